"""Adversarial: sleeps forever, ignoring SIGTERM (RUN002; the kit kills it with SIGKILL)."""
import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(10**6)
