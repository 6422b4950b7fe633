// pingpong, Node.js: two async functions hand a counter back and forth N
// times through a pair of one-slot channels (a pending promise's resolver).
"use strict";
const n0 = Number(process.argv[2] || 1000000);
const n = n0 + (n0 % 2);

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

async function main() {
  const toPong = new Chan(), toPing = new Chan();
  async function pong() {
    for (;;) {
      const v = await toPong.get();
      toPing.put(v + 1);
      if (v + 1 >= n) return;
    }
  }
  const t0 = process.hrtime.bigint();
  const p = pong();
  let v = 0;
  toPong.put(1);
  for (;;) {
    v = await toPing.get();
    if (v >= n) break;
    toPong.put(v + 1);
  }
  await p;
  const dt = Number(process.hrtime.bigint() - t0);
  if (v !== n) throw new Error("wrong count");
  console.log(`result ns_per_handoff=${(dt / n).toFixed(1)} check=${v}`);
}
main();
