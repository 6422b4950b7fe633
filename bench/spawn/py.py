# spawn, asyncio (uvloop with --uvloop): create N tasks, then gather them.
#   python3 bench/spawn/py.py [N] [--uvloop]
import asyncio, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pyrun import run, status_kb

async def work(i):
    return i

async def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(work(i)) for i in range(1, n + 1)]
    total = sum(await asyncio.gather(*tasks))
    dt = time.perf_counter() - t0
    assert total == n * (n + 1) // 2
    print(f"result ns_per_task={dt * 1e9 / n:.1f} rss_kb={status_kb('VmHWM')} check={total}")

run(main)
