"""Run a command in a network namespace whose only way out is one forwarded port.

    unshare --net python isolated.py PORT SOCKET -- COMMAND [ARG...]

Started by ``unshare --net`` in a fresh, empty network namespace, this brings the loopback
interface up, listens on ``127.0.0.1:PORT`` *inside* it and forwards every connection to the
Unix socket ``SOCKET`` (Unix sockets in the file system cross namespaces; the test bridges that
socket to the HTTP proxy outside). Then it runs COMMAND and exits with its status. Inside, a
direct connection to the relay's port is refused (nothing listens there): the proxy is the only
route, which is the network a firewall that lets only HTTPS-via-proxy out leaves a client with.
"""

from __future__ import annotations

import contextlib
import fcntl
import signal
import socket
import struct
import subprocess
import sys
import threading

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))


def pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def forward(listener: socket.socket, unix_path: str) -> None:
    while True:
        client, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(unix_path)
        except OSError:
            client.close()
            upstream.close()
            continue
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: isolated.py PORT SOCKET -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    port, unix_path, command = int(argv[0]), argv[1], argv[3:]
    loopback_up()
    listener = socket.socket()
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    threading.Thread(target=forward, args=(listener, unix_path), daemon=True).start()
    child = subprocess.Popen(command)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda n, _frame: child.send_signal(n))
    return child.wait()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
