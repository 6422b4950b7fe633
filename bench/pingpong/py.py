# pingpong, asyncio (uvloop with --uvloop): two tasks hand a counter back and
# forth N times through a pair of asyncio.Queue(1).
import asyncio, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pyrun import run

async def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    n += n % 2
    to_pong, to_ping = asyncio.Queue(1), asyncio.Queue(1)

    async def pong():
        while True:
            v = await to_pong.get()
            await to_ping.put(v + 1)
            if v + 1 >= n:
                return

    t0 = time.perf_counter()
    task = asyncio.create_task(pong())
    await to_pong.put(1)
    while True:
        v = await to_ping.get()
        if v >= n:
            break
        await to_pong.put(v + 1)
    await task
    dt = time.perf_counter() - t0
    assert v == n
    print(f"result ns_per_handoff={dt * 1e9 / n:.1f} check={v}")

run(main)
