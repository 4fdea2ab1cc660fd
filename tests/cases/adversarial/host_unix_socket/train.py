"""Adversarial (issue 13, row 6): connects to UNIX sockets of the test (one by path, named in socket.txt,
one abstract, named in abstract.txt) and sends them a line; what happened goes to output/result.json.
"""
import json
import os
import socket

result = {}
with open("socket.txt") as f:
    path = f.read().strip()
with open("abstract.txt") as f:
    abstract = "\0" + f.read().strip()
for name, address in (("path", path), ("abstract", abstract)):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(address)
        s.sendall(b"hello from the script\n")
        result[name] = "connected"
    except OSError as exc:
        result[name] = exc.strerror
    finally:
        s.close()
os.makedirs("output", exist_ok=True)
with open("output/result.json", "w") as f:
    json.dump(result, f)
