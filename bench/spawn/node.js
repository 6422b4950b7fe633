// spawn, Node.js: N async function calls ("tasks"), then Promise.all.
// An async function runs until its first await when called, so each task
// awaits once (a microtask hop) before it finishes, as a task that starts on
// the loop's next turn would.
//   node bench/spawn/node.js [N]
"use strict";
const n = Number(process.argv[2] || 200000);

async function work(i) {
  await null;
  return i;
}

async function main() {
  const t0 = process.hrtime.bigint();
  const tasks = [];
  for (let i = 1; i <= n; i++) tasks.push(work(i));
  const results = await Promise.all(tasks);
  let sum = 0;
  for (const r of results) sum += r;
  const dt = Number(process.hrtime.bigint() - t0);
  if (sum !== n * (n + 1) / 2) throw new Error("wrong sum");
  console.log(`result ns_per_task=${(dt / n).toFixed(1)} rss_kb=${process.resourceUsage().maxRSS} check=${sum}`);
}
main();
