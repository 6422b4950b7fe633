# procs, asyncio (uvloop with --uvloop): spawn /bin/true and wait for it,
# N times one at a time, then N times with 64 at once.
#   python3 bench/procs/py.py [N] [--uvloop]
import asyncio, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pyrun import run

async def one():
    p = await asyncio.create_subprocess_exec("/bin/true")
    return 1 if await p.wait() == 0 else 0

async def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    ok = 0
    t0 = time.perf_counter()
    for _ in range(n):
        ok += await one()
    seq = (time.perf_counter() - t0) * 1e6 / n
    left = [n]

    async def worker():
        c = 0
        while left[0] > 0:
            left[0] -= 1
            c += await one()
        return c

    t0 = time.perf_counter()
    ok += sum(await asyncio.gather(*[worker() for _ in range(64)]))
    par = (time.perf_counter() - t0) * 1e6 / n
    print(f"result seq_us={seq:.1f} par_us={par:.1f} check={ok}")

run(main)
