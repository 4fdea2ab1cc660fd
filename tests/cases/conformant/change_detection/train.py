import tiny

tiny.main(task="change_detection")
