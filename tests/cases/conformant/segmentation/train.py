import tiny

tiny.main(task="segmentation")
