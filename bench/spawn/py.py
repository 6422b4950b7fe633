# spawn, asyncio (uvloop with --uvloop): create N tasks, then gather them.
#   python3 bench/spawn/py.py [N] [plain|fanout] [--uvloop]
# fanout: the tasks share an asyncio.Semaphore(100); each acquires it,
# yields once (asyncio.sleep(0)) while holding it, and releases it.
import asyncio, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pyrun import run, status_kb

LIMIT = 100

async def work(i):
    return i

def fanout():
    sem = asyncio.Semaphore(LIMIT)
    inside = 0

    async def work(i):
        nonlocal inside
        async with sem:
            inside += 1
            assert inside <= LIMIT
            await asyncio.sleep(0)
            inside -= 1
        return i
    return work

async def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    mode = sys.argv[2] if len(sys.argv) > 2 else "plain"
    body = {"plain": lambda: work, "fanout": fanout}[mode]()
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(body(i)) for i in range(1, n + 1)]
    total = sum(await asyncio.gather(*tasks))
    dt = time.perf_counter() - t0
    assert total == n * (n + 1) // 2
    print(f"result ns_per_task={dt * 1e9 / n:.1f} rss_kb={status_kb('VmHWM')} check={total}")

run(main)
