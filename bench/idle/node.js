// idle, Node.js net: a line echo server; each socket keeps the bytes of an
// unfinished line in a string and writes back every complete line from its
// 'data' handler.
//   node bench/idle/node.js PORT   prints "port N", exits on SIGTERM or SIGINT
"use strict";
const net = require("net");
const server = net.createServer((sock) => {
  let pending = "";
  sock.setEncoding("latin1"); // bytes as they are, one char each
  sock.on("error", () => sock.destroy()); // a reset when the client leaves
  sock.on("data", (data) => {
    pending += data;
    let start = 0, nl;
    while ((nl = pending.indexOf("\n", start)) !== -1) {
      sock.write(pending.slice(start, nl + 1), "latin1");
      start = nl + 1;
    }
    pending = pending.slice(start);
  });
  sock.on("end", () => sock.end());
});
server.listen({ host: "127.0.0.1", port: Number(process.argv[process.argv.length - 1]), backlog: 1024 }, () => {
  process.stdout.write(`port ${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
