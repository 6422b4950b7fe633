// procs, Node.js: spawn /bin/true (child_process.spawn, stdio inherited)
// and wait for its exit, N times one at a time, then N times with 64 at
// once.
//   node bench/procs/node.js [N]
"use strict";
const { spawn } = require("child_process");
const n = Number(process.argv[2] || 2000);

function one() {
  return new Promise((resolve, reject) => {
    const p = spawn("/bin/true", [], { stdio: "inherit" });
    p.on("error", reject);
    p.on("exit", (code) => resolve(code === 0 ? 1 : 0));
  });
}

async function main() {
  let ok = 0;
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) ok += await one();
  const seq = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  let left = n;
  async function worker() {
    let c = 0;
    while (left > 0) {
      left--;
      c += await one();
    }
    return c;
  }
  t0 = process.hrtime.bigint();
  const ws = [];
  for (let i = 0; i < 64; i++) ws.push(worker());
  for (const c of await Promise.all(ws)) ok += c;
  const par = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  console.log(`result seq_us=${seq.toFixed(1)} par_us=${par.toFixed(1)} check=${ok}`);
}
main();
