// http, Node.js: the built-in http module, keep-alive "hello world".
"use strict";
const http = require("http");
const server = http.createServer((req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": "13" });
  res.end("Hello, World!");
});
server.listen({ host: "127.0.0.1", port: Number(process.argv[process.argv.length - 1]), backlog: 1024 }, () => {
  process.stdout.write(`port ${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
