# pipeline, asyncio (uvloop with --uvloop): N items through 4 stages joined
# by asyncio.Queue(64): a producer puts 1..N and then 0 (the end); stages 1-3
# each get and put item+1 into the next queue; stage 4 sums.
#   python3 bench/pipeline/py.py [N] [--uvloop]
import asyncio, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pyrun import run

QSIZE, STAGES = 64, 4

async def produce(n, out):
    for i in range(1, n + 1):
        await out.put(i)
    await out.put(0)

async def pass_on(inq, out):
    while True:
        v = await inq.get()
        if v == 0:
            await out.put(0)
            return
        await out.put(v + 1)

async def sink(inq):
    total = 0
    while True:
        v = await inq.get()
        if v == 0:
            return total
        total += v

async def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    t0 = time.perf_counter()
    q = [asyncio.Queue(QSIZE) for _ in range(STAGES)]
    tasks = [asyncio.create_task(produce(n, q[0]))]
    tasks += [asyncio.create_task(pass_on(q[i], q[i + 1])) for i in range(STAGES - 1)]
    last = asyncio.create_task(sink(q[STAGES - 1]))
    await asyncio.gather(*tasks)
    total = await last
    dt = time.perf_counter() - t0
    assert total == n * (n + 1) // 2 + 3 * n
    print(f"result ns_per_item={dt * 1e9 / n:.1f} check={total}")

run(main)
