"""Adversarial: a busy loop that never ends (RUN002; the kit kills it at the time limit)."""
while True:
    pass
