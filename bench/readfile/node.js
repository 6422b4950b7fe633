// readfile, Node.js: fs.promises.readFile of a 4 KiB file, N times one at
// a time, then N times with 64 reads in flight.
//   node bench/readfile/node.js [N]
"use strict";
const fs = require("fs");
const n = Number(process.argv[2] || 10000);
const path = `/tmp/tide-bench-readfile-${process.pid}`;

async function main() {
  fs.writeFileSync(path, "x".repeat(4096));
  let reads = 0;
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if ((await fs.promises.readFile(path)).length === 4096) reads++;
  }
  const seq = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  let left = n;
  async function worker() {
    let c = 0;
    while (left > 0) {
      left--;
      if ((await fs.promises.readFile(path)).length === 4096) c++;
    }
    return c;
  }
  t0 = process.hrtime.bigint();
  const ws = [];
  for (let i = 0; i < 64; i++) ws.push(worker());
  for (const c of await Promise.all(ws)) reads += c;
  const par = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  fs.unlinkSync(path);
  console.log(`result seq_us=${seq.toFixed(2)} par_us=${par.toFixed(2)} check=${reads}`);
}
main();
