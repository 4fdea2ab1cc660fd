import tiny

tiny.main(task="detection")
