# sleepers, asyncio (uvloop with --uvloop): N tasks each sleep a random 0-1 s.
import asyncio, os, random, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pyrun import run, status_kb

async def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    random.seed(1)
    started = 0
    lates = []

    async def sleeper(d):
        nonlocal started
        due = time.monotonic() + d
        started += 1
        await asyncio.sleep(d)
        lates.append(max(0.0, time.monotonic() - due))

    rss0 = status_kb("VmRSS")
    tasks = [asyncio.create_task(sleeper(random.random())) for _ in range(n)]
    while started < n:
        await asyncio.sleep(0)
    rss1 = status_kb("VmRSS")
    await asyncio.gather(*tasks)
    assert len(lates) == n
    print(f"result bytes_per_task={(rss1 - rss0) * 1024 / n:.0f} "
          f"overshoot_ms_mean={sum(lates) / n * 1e3:.3f} overshoot_ms_max={max(lates) * 1e3:.3f} check={n}")

run(main)
