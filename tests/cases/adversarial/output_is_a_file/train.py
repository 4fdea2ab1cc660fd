"""Adversarial: replaces output/ with a file, then announces its only epoch."""
import shutil

shutil.rmtree("output", ignore_errors=True)
with open("output", "w") as f:
    f.write("not a folder\n")
print("[Process: 1/1]", flush=True)
