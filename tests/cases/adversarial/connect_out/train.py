"""Adversarial: tries the network: a loopback port that is not the mock S3 (named in port.txt, a server
the test opened), a name lookup, and, only when no interface but loopback exists (a namespace with no
route, so nothing can leave), an internet address.
"""
import socket

with open("port.txt") as f:
    port = int(f.read())
attempts = [("127.0.0.1", port)]
if all(name == "lo" for _, name in socket.if_nameindex()):
    attempts.append(("192.0.2.1", 80))  # TEST-NET-1: reserved for documentation, routed nowhere
for address in attempts:
    try:
        socket.create_connection(address, timeout=1).close()
    except OSError:
        pass
try:
    socket.getaddrinfo("example.com", 443)
except OSError:
    pass
