#!/usr/bin/python3
"""Python's http.client and h11 as clients of a tide server
(spec/http/tide_server.lua on the port given): keep-alive, POST, chunked
uploads and downloads, HEAD, pipelining. Prints "ok" or raises."""
import http.client
import socket
import sys

import h11

port = int(sys.argv[1])

c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
for _ in range(3):  # one connection, kept alive
    c.request("GET", "/")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"Hello, World!", r.status
c.request("POST", "/echo", body=b"x" * 70000)
r = c.getresponse()
assert r.read() == b"x" * 70000 and r.getheader("X-Body-Length") == "70000"
c.request("POST", "/echo", body=iter([b"ab", b"cd"]), encode_chunked=True,
          headers={"Transfer-Encoding": "chunked"})
r = c.getresponse()
assert r.read() == b"abcd"
c.request("GET", "/chunked")
r = c.getresponse()
assert r.getheader("Transfer-Encoding") == "chunked"
assert r.read() == b"".join(b"line %d\n" % i for i in range(1, 6))
c.request("HEAD", "/")
r = c.getresponse()
assert r.getheader("Content-Length") == "13" and r.read() == b""
c.close()

# h11: two pipelined requests on one socket, answers in order.
s = socket.create_connection(("127.0.0.1", port), timeout=5)
conn = h11.Connection(h11.CLIENT)
data = conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
data += conn.send(h11.EndOfMessage())
s.sendall(data + b"GET /headers HTTP/1.1\r\nHost: x\r\nX-Two: 2\r\n\r\n")
bodies = []
while len(bodies) < 2:
    ev = conn.next_event()
    if ev is h11.NEED_DATA:
        conn.receive_data(s.recv(65536))
        continue
    if isinstance(ev, h11.Response):
        assert ev.status_code == 200
        body = b""
    elif isinstance(ev, h11.Data):
        body += ev.data
    elif isinstance(ev, h11.EndOfMessage):
        bodies.append(body)
        conn.start_next_cycle()
        # The second request went out already (h11 does not pipeline):
        # tell h11 about it so that it reads the second response.
        conn.send(h11.Request(method="GET", target="/headers",
                              headers=[("Host", "x"), ("X-Two", "2")]))
        conn.send(h11.EndOfMessage())
assert bodies[0] == b"Hello, World!", bodies
assert b"x-two=2" in bodies[1], bodies
s.close()
print("ok")
