#!/usr/bin/python3
"""Differential test of tide's HTTP/1.1 head parser against h11.

    /usr/bin/python3 test/http1/h11_diff.py CASES [--show N]

CASES is written by http1_diff --out (test/http1/diff.c): each case is the
bytes of a request or response head and tide's verdict on it (complete with
its fields, incomplete, or refused). h11 (Debian's python3-h11) parses the
same bytes; the verdicts, and when both accept, the method, target,
version, status, header fields (names lowercased, as h11 gives them) and
the body framing must agree (names as sent: h11's raw_items), or the difference must fall into one of the
categories documented in docs/http.md (tide stricter on purpose, or h11's
own leniency). Anything else fails the run and is printed.
"""
import json
import re
import sys

import h11
from h11._connection import _body_framing

BODY = {0: "none", 1: "length", 2: "chunked", 3: "eof"}


def h11_verdict(data, response):
    """("ok", fields) / ("inc", None) / ("err", message)."""
    if response:
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]))
        conn.send(h11.EndOfMessage())
    else:
        conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    try:
        ev = conn.next_event()
    except h11.RemoteProtocolError as e:
        return "err", str(e)
    if ev is h11.NEED_DATA:
        return "inc", None
    out = {
        "ver": ev.http_version.decode("latin-1"),
        "h": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in ev.headers.raw_items()],
    }
    if response:
        out["s"] = ev.status_code
        out["m"] = out["t"] = ""
        if isinstance(ev, h11.InformationalResponse):
            out["b"] = "none"
            return "ok", out
        kind, args = _body_framing(b"GET", ev)
    else:
        out["s"] = 0
        out["m"] = ev.method.decode("latin-1")
        out["t"] = ev.target.decode("latin-1")
        kind, args = _body_framing(ev.method, ev)
    if kind == "chunked":
        out["b"] = "chunked"
    elif kind == "content-length":
        out["b"] = "length" if args[0] or response else "none"
        out["cl"] = args[0]
    else:
        out["b"] = "eof"
    return "ok", out


def first_line(data):
    return data.lstrip(b"\r\n").split(b"\n", 1)[0]


def field_lines(data):
    return data.split(b"\r\n")[1:]


# Each category: (description, predicate(data, response, tide, h11 kind,
# h11 detail)). The first that matches names the difference.
def cat_obsfold(d, r, t, hk, hd):
    return t["v"] == "err" and t["msg"] == "obsolete line folding"


def cat_bare_lf(d, r, t, hk, hd):
    return t["v"] == "err" and t["msg"] == "bare CR or LF" and (
        re.search(rb"[^\r]\n", d) is not None or d.startswith(b"\n"))


def tide_err(*msgs):
    return lambda d, r, t, hk, hd: t["v"] == "err" and t["msg"] in msgs


def cat_spaces(d, r, t, hk, hd):
    return t["v"] == "err" and not r and b"  " in first_line(d)


def cat_target(d, r, t, hk, hd):
    return t["v"] == "err" and t["msg"] == "invalid byte in the request target"


def cat_nobody(d, r, t, hk, hd):
    return (hk == "ok" and t["v"] == "ok" and r and
            (t["s"] < 200 or t["s"] in (204, 304)) and BODY[t["b"]] != hd["b"])


def cat_lineend(d, r, t, hk, hd):
    return t["v"] == "inc" and hk == "err" and re.search(
        "content-length|transfer-encoding|Transfer-Encoding|Content-Length", hd or "")


def cat_cr_wait(d, r, t, hk, hd):
    return t["v"] == "inc" and hk == "err" and d.endswith(b"\r")


def cat_h11_incomplete_limit(d, r, t, hk, hd):
    # h11 parses a head only once its blank line is there; what tide
    # refuses inside an unfinished head h11 calls incomplete.
    return t["v"] == "err" and hk == "inc"


def cat_h11_value_ws(d, r, t, hk, hd):
    # h11 refuses a value with whitespace inside a Content-Length, or
    # leading/trailing bytes it does not strip.
    return False


CATEGORIES = [
    ("tide refuses obs-fold (h11 unfolds it)", cat_obsfold),
    ("tide refuses a bare LF as line end (h11 accepts it)", cat_bare_lf),
    ("tide refuses '#', non-ASCII and malformed forms in the target",
     cat_target),
    ("tide requires single spaces in the request line", cat_spaces),
    ("tide refuses HTTP versions other than 1.0/1.1",
     tide_err("HTTP version not supported")),
    ("tide refuses Content-Length of more than 15 digits",
     lambda d, r, t, hk, hd: t["v"] == "err" and t["msg"] == "invalid Content-Length"
     and re.search(rb"(?i)content-length:[ \t]*0*[0-9]{16,}", d) is not None),
    ("tide refuses Content-Length given twice (h11: when equal)",
     tide_err("Content-Length given more than once")),
    ("tide refuses a list as Content-Length (h11 merges equal values)",
     lambda d, r, t, hk, hd: t["v"] == "err" and t["msg"] == "invalid Content-Length"
     and re.search(rb"(?i)content-length:[^\r\n]*,", d) is not None),
    ("tide's size limits (line 8 KiB, fields 8 KiB, 100 fields; h11: 16 KiB)",
     tide_err("request line too long", "header section too large",
              "too many header fields", "malformed request or status line")),
    ("tide refuses Transfer-Encoding in an HTTP/1.0 message",
     tide_err("Transfer-Encoding in an HTTP/1.0 message")),
    ("tide refuses control bytes h11 lets into values",
     tide_err("invalid byte in a header value", "bare CR or LF")),
    ("1xx/204/304 responses have no body (h11 frames them by their fields)",
     cat_nobody),
    ("tide judges a field's meaning once its line has ended", cat_lineend),
    ("tide waits for the LF after a CR that ends the data", cat_cr_wait),
    ("tide refuses inside an unfinished head (h11 waits for its end)",
     cat_h11_incomplete_limit),
    ("tide refuses Transfer-Encoding with Content-Length (h11: chunked wins)",
     tide_err("both Transfer-Encoding and Content-Length")),
    ("h11 reads a 101 only after an Upgrade request (harness, not parser)",
     lambda d, r, t, hk, hd: hk == "err" and "_SWITCH_UPGRADE" in hd),
    ("tide skips empty lines before a request line (h11 refuses them)",
     lambda d, r, t, hk, hd: not r and d.startswith(b"\r\n") and t["v"] != "err"
     and hd == "no request line received"),
    ("tide refuses control bytes in a reason phrase",
     lambda d, r, t, hk, hd: r and t["v"] == "err" and t["msg"] == "malformed status line"
     and re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", first_line(d)) is not None),
]


def norm(fields):
    # h11 lowercases the value of Transfer-Encoding (it reads it as a
    # coding name); everything else is compared as sent.
    return [[n, v.lower() if n.lower() == "transfer-encoding" else v] for n, v in fields]


def tide_body(t, response):
    if t["b"] == 1 and t["cl"] == 0 and not response:
        return "none"
    return BODY[t["b"]]


def compare(data, response, t):
    hk, hd = h11_verdict(data, response)
    if t["v"] == "err" and hk == "err":
        return "both refused"
    if t["v"] == "inc" and hk == "inc":
        return "both incomplete"
    if t["v"] == "ok" and hk == "ok":
        same = (t["m"] == hd["m"] and t["t"] == hd["t"] and t["ver"] == hd["ver"]
                and t["s"] == hd["s"]
                and norm(t["h"]) == norm(hd["h"])
                and tide_body(t, response) == hd["b"]
                and (t["b"] != 1 or t["cl"] == hd.get("cl")))
        if same:
            return "agree"
    for name, pred in CATEGORIES:
        if pred(data, response, t, hk, hd):
            return name
    return None, hk, hd


def main():
    path = sys.argv[1]
    show = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--show" else 20
    counts, failures, shown, n = {}, 0, 0, 0
    with open(path, "rb") as f:
        while True:
            line = f.readline()
            if not line:
                break
            _, response, length = line.split()
            data = f.read(int(length))
            f.readline()
            t = json.loads(f.readline())
            n += 1
            got = compare(data, int(response), t)
            if isinstance(got, tuple):
                failures += 1
                if shown < show:
                    shown += 1
                    print("differs: %r\n  tide: %.300s\n  h11: %s %.300r" % (data[:300], t, got[1], got[2]),
                          file=sys.stderr)
            else:
                counts[got] = counts.get(got, 0) + 1
    print("h11_diff: %d cases vs h11 %s:" % (n, h11.__version__))
    for k in sorted(counts, key=lambda k: -counts[k]):
        print("  %7d  %s" % (counts[k], k))
    print("h11_diff: %d passed, %d failed" % (n - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
