#!/usr/bin/python3
"""http-lib, aiohttp: keep-alive "hello world" through aiohttp.web (the
HTTP library); --uvloop runs it on uvloop.
    python3 bench/http/aio_web.py [--uvloop] PORT   prints "port N"."""
import asyncio
import signal
import sys

from aiohttp import web

if "--uvloop" in sys.argv:
    import uvloop
    uvloop.install()


async def hello(request):
    return web.Response(text="Hello, World!")


async def main():
    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(sys.argv[-1]), backlog=1024)
    await site.start()
    print("port", site._server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    await runner.cleanup()


asyncio.run(main())
