#!/usr/bin/env python3
"""tests/chaos/closing_server.py PORT ANSWERED - an HTTP/1.1 server for the
load client's self-test (load_selftest.sh): on each connection it answers the
first ANSWERED requests (202 with a command id), then closes the connection
when the next request arrives, without a byte of answer: what a server does
when it closes an idle keep-alive connection just as a request leaves.
Listens on 127.0.0.1 only; stopped by its PID."""
import socket
import sys
import threading

BODY = b'{"command_id":"00000000-0000-0000-0000-000000000001","status":"accepted"}'
ANSWER = (b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(BODY)) + BODY


def whole_request(buf):
    """(length of the first whole request in buf, or 0 when not yet)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return 0
    length = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    total = end + 4 + length
    return total if len(buf) >= total else 0


def serve(conn, answered):
    buf, n = b"", 0
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while (size := whole_request(buf)):
                buf, n = buf[size:], n + 1
                if n > answered:
                    return
                conn.sendall(ANSWER)


def main():
    port, answered = int(sys.argv[1]), int(sys.argv[2])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    print("listening", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, answered), daemon=True).start()


if __name__ == "__main__":
    main()
