// sleepers, Node.js: N async functions each await a random 0-1 s sleep
// (timers/promises setTimeout).
"use strict";
const { setTimeout: sleep } = require("timers/promises");
const fs = require("fs");
const n = Number(process.argv[2] || 100000);

function statusKB(key) {
  const m = fs.readFileSync("/proc/self/status", "utf8").match(new RegExp(key + ":\\s*(\\d+)"));
  return Number(m[1]);
}
let seed = 1; // xorshift32: deterministic delays
function rnd() {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
}
const now = () => performance.now();

async function main() {
  let started = 0, lateSum = 0, lateMax = 0, woke = 0;
  async function sleeper(d) {
    const due = now() + d * 1000;
    started++;
    await sleep(d * 1000);
    const late = Math.max(0, now() - due);
    lateSum += late;
    if (late > lateMax) lateMax = late;
    woke++;
  }
  const rss0 = statusKB("VmRSS");
  const tasks = [];
  for (let i = 0; i < n; i++) tasks.push(sleeper(rnd()));
  const rss1 = statusKB("VmRSS"); // every sleeper has started: async functions run to their first await
  if (started !== n) throw new Error("not all started");
  await Promise.all(tasks);
  console.log(`result bytes_per_task=${((rss1 - rss0) * 1024 / n).toFixed(0)} ` +
    `overshoot_ms_mean=${(lateSum / n).toFixed(3)} overshoot_ms_max=${lateMax.toFixed(3)} check=${woke}`);
}
main();
