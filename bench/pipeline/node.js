// pipeline, Node.js: N items through 4 stages (async functions) joined by
// bounded async queues of 64 built on promises (Node has none built in: a
// ring buffer plus FIFOs of waiting getters' and putters' resolvers; get
// and put return a promise only when they must wait). A producer puts 1..N
// and then 0 (the end); stages 1-3 each get and put item+1 into the next
// queue; stage 4 sums.
//   node bench/pipeline/node.js [N]
"use strict";
const n = Number(process.argv[2] || 1000000);
const QSIZE = 64, STAGES = 4;

class AsyncQueue {
  constructor(max) {
    this.max = max; this.buf = new Array(max); this.head = 0; this.len = 0;
    this.getters = []; this.putters = []; // resolvers; [resolve, item] for putters
  }
  put(v) {
    if (this.getters.length) { this.getters.shift()(v); return undefined; } // the queue is empty
    if (this.len < this.max) { this.buf[(this.head + this.len++) % this.max] = v; return undefined; }
    return new Promise((resolve) => { this.putters.push([resolve, v]); });
  }
  get() {
    if (this.len === 0) return new Promise((resolve) => { this.getters.push(resolve); });
    const v = this.buf[this.head];
    this.head = (this.head + 1) % this.max;
    this.len--;
    if (this.putters.length) { // room: the oldest waiting putter's item goes in
      const [resolve, item] = this.putters.shift();
      this.buf[(this.head + this.len++) % this.max] = item;
      resolve();
    }
    return v;
  }
}

async function produce(out) {
  for (let i = 1; i <= n; i++) await out.put(i);
  await out.put(0);
}

async function pass(inq, out) {
  for (;;) {
    const v = await inq.get();
    if (v === 0) { await out.put(0); return; }
    await out.put(v + 1);
  }
}

async function sink(inq) {
  let sum = 0;
  for (;;) {
    const v = await inq.get();
    if (v === 0) return sum;
    sum += v;
  }
}

async function main() {
  const t0 = process.hrtime.bigint();
  const q = [];
  for (let i = 0; i < STAGES; i++) q.push(new AsyncQueue(QSIZE));
  const tasks = [produce(q[0])];
  for (let i = 0; i < STAGES - 1; i++) tasks.push(pass(q[i], q[i + 1]));
  const last = sink(q[STAGES - 1]);
  await Promise.all(tasks);
  const sum = await last;
  const dt = Number(process.hrtime.bigint() - t0);
  if (sum !== n * (n + 1) / 2 + 3 * n) throw new Error("wrong sum");
  console.log(`result ns_per_item=${(dt / n).toFixed(1)} check=${sum}`);
}
main();
