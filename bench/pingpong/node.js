// pingpong, Node.js: two async functions hand a counter back and forth N
// times.
//   node bench/pingpong/node.js [N] [queue|event]
// queue (default): a pair of one-slot channels (a pending promise's
// resolver); event: a pair of events (a flag and the promise of its next
// set, asyncio.Event's design on promises): wait, clear, then set the other
// side's, around a shared slot.
"use strict";
const n0 = Number(process.argv[2] || 1000000);
const n = n0 + (n0 % 2);
const mode = process.argv[3] || "queue";

class Chan {
  constructor() { this.waiter = null; this.items = []; }
  put(v) {
    const w = this.waiter;
    if (w) { this.waiter = null; w(v); } else this.items.push(v);
  }
  get() {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve) => { this.waiter = resolve; });
  }
}

class Event {
  constructor() { this.flag = false; this.promise = null; this.resolve = null; }
  set() {
    if (this.flag) return;
    this.flag = true;
    const r = this.resolve;
    if (r) { this.promise = this.resolve = null; r(true); }
  }
  clear() { this.flag = false; }
  wait() {
    if (this.flag) return true;
    if (!this.promise) this.promise = new Promise((resolve) => { this.resolve = resolve; });
    return this.promise;
  }
}

async function withQueues() {
  const toPong = new Chan(), toPing = new Chan();
  async function pong() {
    for (;;) {
      const v = await toPong.get();
      toPing.put(v + 1);
      if (v + 1 >= n) return;
    }
  }
  const p = pong();
  let v = 0;
  toPong.put(1);
  for (;;) {
    v = await toPing.get();
    if (v >= n) break;
    toPong.put(v + 1);
  }
  await p;
  return v;
}

async function withEvents() {
  const toPong = new Event(), toPing = new Event();
  let slot = 0;
  async function pong() {
    for (;;) {
      await toPong.wait();
      toPong.clear();
      const v = slot;
      slot = v + 1;
      toPing.set();
      if (v + 1 >= n) return;
    }
  }
  const p = pong();
  let v = 0;
  slot = 1;
  toPong.set();
  for (;;) {
    await toPing.wait();
    toPing.clear();
    v = slot;
    if (v >= n) break;
    slot = v + 1;
    toPong.set();
  }
  await p;
  return v;
}

async function main() {
  const fn = { queue: withQueues, event: withEvents }[mode];
  if (!fn) throw new Error("mode: queue or event");
  const t0 = process.hrtime.bigint();
  const v = await fn();
  const dt = Number(process.hrtime.bigint() - t0);
  if (v !== n) throw new Error("wrong count");
  console.log(`result ns_per_handoff=${(dt / n).toFixed(1)} check=${v}`);
}
main();
