# pingpong, asyncio (uvloop with --uvloop): two tasks hand a counter back and
# forth N times.
#   python3 bench/pingpong/py.py [N] [queue|event] [--uvloop]
# queue (default): a pair of asyncio.Queue(1); event: a pair of
# asyncio.Event (wait, clear, then set the other side's) around a shared slot.
import asyncio, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pyrun import run

async def with_queues(n):
    to_pong, to_ping = asyncio.Queue(1), asyncio.Queue(1)

    async def pong():
        while True:
            v = await to_pong.get()
            await to_ping.put(v + 1)
            if v + 1 >= n:
                return

    task = asyncio.create_task(pong())
    await to_pong.put(1)
    while True:
        v = await to_ping.get()
        if v >= n:
            break
        await to_pong.put(v + 1)
    await task
    return v

async def with_events(n):
    to_pong, to_ping = asyncio.Event(), asyncio.Event()
    slot = [0]

    async def pong():
        while True:
            await to_pong.wait()
            to_pong.clear()
            v = slot[0]
            slot[0] = v + 1
            to_ping.set()
            if v + 1 >= n:
                return

    task = asyncio.create_task(pong())
    slot[0] = 1
    to_pong.set()
    while True:
        await to_ping.wait()
        to_ping.clear()
        v = slot[0]
        if v >= n:
            break
        slot[0] = v + 1
        to_pong.set()
    await task
    return v

async def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    mode = sys.argv[2] if len(sys.argv) > 2 else "queue"
    n += n % 2
    fn = {"queue": with_queues, "event": with_events}[mode]
    t0 = time.perf_counter()
    v = await fn(n)
    dt = time.perf_counter() - t0
    assert v == n
    print(f"result ns_per_handoff={dt * 1e9 / n:.1f} check={v}")

run(main)
