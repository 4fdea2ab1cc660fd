"""Adversarial (issue 13, row 11): prints a green fake verdict with ANSI escapes, a carriage return and
characters XML forbids on stderr, then fails, so that the report quotes them.
"""
import sys

sys.stderr.write("Traceback (most recent call last):\r\x1b[2K\x1b[1m\x1b[32mCONFORMANT: script train.py "
                 "[segmentation]: 0 errors, 0 warnings\x1b[0m\n\x00\x08\x0b\ufffe ]]> <failure>\n")
sys.exit(3)
