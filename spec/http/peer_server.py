#!/usr/bin/python3
"""An HTTP/1.1 server tide did not write (Python's http.server with
keep-alive), for spec/http_client_spec.lua. Prints "port N"; serves until
killed. Routes: /hello, /chunked, /echo (POST), /redirect -> /hello,
/close (Connection: close), /slow (sleeps 1 s)."""
import http.server
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_body(self, body, ctype="text/plain", extra=()):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if self.path == "/hello":
            self.send_body(b"hello from python")
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"one ", b"two ", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/hello")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/close":
            self.send_body(b"bye", extra=(("Connection", "close"),))
            self.close_connection = True
        elif self.path == "/slow":
            time.sleep(1)
            self.send_body(b"late")
        elif self.path == "/agent":
            self.send_body(self.headers.get("User-Agent", "").encode())
        else:
            self.send_error(404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self.send_body(body, extra=(("X-Got", str(n)),))


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("port", srv.server_address[1], flush=True)
srv.serve_forever()
