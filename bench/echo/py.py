# echo server, asyncio streams (uvloop with --uvloop), for bench/echo.sh:
#   python3 bench/echo/py.py [--uvloop] PORT     prints "port N", exits on SIGTERM
import asyncio, os, signal, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pyrun import run

async def echo(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()

async def main():
    port = int(sys.argv[-1])
    server = await asyncio.start_server(echo, "127.0.0.1", port, backlog=1024)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.get_running_loop().create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(s, stop.set_result, None)
    await stop

run(main)
