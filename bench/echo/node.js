// echo server, Node.js net, for bench/echo.sh: node bench/echo/node.js PORT
"use strict";
const net = require("net");
const server = net.createServer((sock) => {
  sock.on("error", () => sock.destroy()); // a reset when the client leaves
  sock.pipe(sock);
});
server.listen({ host: "127.0.0.1", port: Number(process.argv[process.argv.length - 1]), backlog: 1024 }, () => {
  process.stdout.write(`port ${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
