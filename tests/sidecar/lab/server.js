// The test "internet": one server answering as every lab host name (network
// aliases), over HTTP (80) and HTTPS (443, a lab certificate). Every request is
// logged as one JSON line so tests can assert what reached it (and what never did).
"use strict";
const fs = require("fs");
const http = require("http");
const https = require("https");

function log(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

function sse(res, text) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const events = [
    ["message_start", { type: "message_start", message: { id: "msg_lab", type: "message", role: "assistant",
      model: "lab-model", content: [], stop_reason: null, stop_sequence: null,
      usage: { input_tokens: 1, output_tokens: 1 } } }],
    ["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }],
    ["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }],
    ["content_block_stop", { type: "content_block_stop", index: 0 }],
    ["message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 5 } }],
    ["message_stop", { type: "message_stop" }],
  ];
  for (const [name, data] of events) res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  res.end();
}

function handler(scheme) {
  return (req, res) => {
    let body = "";
    req.on("data", (chunk) => { body += chunk; });
    req.on("end", () => {
      log({ scheme, host: req.headers.host, method: req.method, url: req.url, headers: req.headers, body,
        from: req.socket.remoteAddress });
      const url = new URL(req.url, `${scheme}://${req.headers.host}`);
      if (url.pathname === "/v1/messages" && req.method === "POST") return sse(res, "hello from the lab model");
      if (url.pathname === "/redirect") {
        res.writeHead(302, { location: url.searchParams.get("to") });
        return res.end();
      }
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`hello from ${req.headers.host} over ${scheme}\n`);
    });
  };
}

// LAB_DIR: the Kubernetes lab runs this outside a container (scripts/k8s/lab.sh)
const dir = process.env.LAB_DIR || "/lab";
const tls = { key: fs.readFileSync(`${dir}/key.pem`), cert: fs.readFileSync(`${dir}/cert.pem`) };
http.createServer(handler("http")).listen(80);
https.createServer(tls, handler("https")).listen(443);
// Odd ports of an allowed host: the red-team suite checks nothing reaches them.
http.createServer(handler("http")).listen(8080);
https.createServer(tls, handler("https")).listen(8443);
// A UDP listener: datagrams that reach the lab are logged too.
require("dgram").createSocket("udp4").on("message", (msg, from) =>
  log({ scheme: "udp", body: msg.toString(), from: from.address })).bind(5353);
// A raw TCP listener: whatever bytes reach it are logged (direct-connection attacks).
require("net").createServer((sock) => {
  sock.on("data", (data) => log({ scheme: "tcp", body: data.toString("latin1"), from: sock.remoteAddress }));
  sock.on("error", () => {});
}).listen(9000);
log({ event: "ready" });
