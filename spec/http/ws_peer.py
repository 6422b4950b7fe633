#!/usr/bin/python3
"""python3-websockets as the peer of tide's WebSocket.

    ws_peer.py server          an echo server; prints "port N"
    ws_peer.py client PORT     drives tide's echo at ws://127.0.0.1:PORT/ws:
                               text, binary, a fragmented message, a large
                               one, ping, close handshake; prints "ok"
"""
import asyncio
import sys

import websockets


async def echo(ws, path=None):
    async for msg in ws:
        if msg == "bye":
            await ws.close(1000, "bye")
            return
        if msg == "fragments":
            await ws.send(iter(["frag", "ment", "ed"]))
            continue
        await ws.send(msg)


async def server():
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=2 ** 21) as srv:
        port = srv.sockets[0].getsockname()[1]
        print("port", port, flush=True)
        await asyncio.Future()


async def client(port):
    async with websockets.connect("ws://127.0.0.1:%d/ws" % port, max_size=2 ** 21) as ws:
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\x01\xff")
        assert await ws.recv() == b"\x00\x01\xff"
        await ws.send(iter(["a", "b", "c"]))  # one message in three frames
        assert await ws.recv() == "abc"
        big = b"x" * 300000
        await ws.send(big)
        assert await ws.recv() == big
        pong = await ws.ping(b"p")
        await asyncio.wait_for(pong, 5)
        await ws.send("bye")
        try:
            await ws.recv()
            raise AssertionError("expected the close")
        except websockets.ConnectionClosedOK as e:
            assert e.rcvd.code == 1000 and e.rcvd.reason == "bye", e
    print("ok")


if sys.argv[1] == "server":
    asyncio.run(server())
else:
    asyncio.run(client(int(sys.argv[2])))
