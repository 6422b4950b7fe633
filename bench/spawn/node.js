// spawn, Node.js: N async function calls ("tasks"), then Promise.all.
// An async function runs until its first await when called, so each task
// awaits once (a microtask hop) before it finishes, as a task that starts on
// the loop's next turn would.
//   node bench/spawn/node.js [N] [plain|fanout]
// fanout: the tasks share a semaphore of 100 permits (a counter and a FIFO
// of promise resolvers; Node has none built in); each acquires it, yields
// once (await null: a microtask hop) while holding it, and releases it.
"use strict";
const n = Number(process.argv[2] || 200000);
const mode = process.argv[3] || "plain";
const LIMIT = 100;

async function work(i) {
  await null;
  return i;
}

class Semaphore {
  constructor(value) { this.value = value; this.waiters = []; this.head = 0; }
  acquire() {
    if (this.value > 0 && this.head === this.waiters.length) { this.value--; return undefined; }
    return new Promise((resolve) => { this.waiters.push(resolve); });
  }
  release() { // the permit goes straight to the oldest waiter
    if (this.head < this.waiters.length) {
      const w = this.waiters[this.head];
      this.waiters[this.head++] = undefined;
      if (this.head === this.waiters.length) { this.waiters = []; this.head = 0; }
      w();
    } else this.value++;
  }
}

function fanout() {
  const sem = new Semaphore(LIMIT);
  let inside = 0;
  return async function (i) {
    await sem.acquire();
    if (++inside > LIMIT) throw new Error("more tasks inside than permits");
    await null;
    inside--;
    sem.release();
    return i;
  };
}

async function main() {
  const body = { plain: () => work, fanout }[mode]();
  const t0 = process.hrtime.bigint();
  const tasks = [];
  for (let i = 1; i <= n; i++) tasks.push(body(i));
  const results = await Promise.all(tasks);
  let sum = 0;
  for (const r of results) sum += r;
  const dt = Number(process.hrtime.bigint() - t0);
  if (sum !== n * (n + 1) / 2) throw new Error("wrong sum");
  console.log(`result ns_per_task=${(dt / n).toFixed(1)} rss_kb=${process.resourceUsage().maxRSS} check=${sum}`);
}
main();
