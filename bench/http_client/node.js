// http-client, Node.js: N requests over 10 keep-alive connections with the
// built-in fetch (undici) to the server at PORT; prints the client's CPU
// per request (process.cpuUsage).
//   node bench/http_client/node.js N PORT
"use strict";
const N = Number(process.argv[2] || 100000), port = Number(process.argv[3]);
const url = `http://127.0.0.1:${port}/`;
let left = N, ok = 0;
async function worker() {
  while (left > 0) {
    left--;
    const r = await fetch(url);
    const body = await r.text();
    if (r.status === 200 && body === "Hello, World!") ok++;
  }
}
(async () => {
  // undici's global dispatcher keeps connections alive; 10 workers use 10.
  const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: 10 }, worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9, c = process.cpuUsage(c0);
  console.log(`result cpu_us_per_req=${((c.user + c.system) / N).toFixed(3)} req_per_s=${(N / secs).toFixed(0)} check=${ok}`);
})();
