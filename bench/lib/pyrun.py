# Shared by the Python bench programs: runs main() on asyncio's default
# loop, or on uvloop when an argument is "--uvloop"; peak/current RSS.
import asyncio, sys

def run(main):
    if "--uvloop" in sys.argv:
        sys.argv.remove("--uvloop")
        import uvloop
        uvloop.install()
    return asyncio.run(main())

def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
