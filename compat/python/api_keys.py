"""Prints the API keys a broker advertises, one per line (ApiVersions v0 on a raw socket, stdlib
only). compat/python.sh uses it to run the group scenarios only once the broker has a group
coordinator.

Usage: python api_keys.py BOOTSTRAP
"""

import socket
import struct
import sys


def main(bootstrap):
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        client = b"compat"
        request = struct.pack(">hhih", 18, 0, 1, len(client)) + client
        s.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        body = recv_exact(s, size)
    correlation_id, error_code, count = struct.unpack(">ihi", body[:10])
    assert correlation_id == 1 and error_code == 0, (correlation_id, error_code)
    for i in range(count):
        key, _min, _max = struct.unpack(">hhh", body[10 + 6 * i:16 + 6 * i])
        print(key)


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


if __name__ == "__main__":
    main(sys.argv[1])
