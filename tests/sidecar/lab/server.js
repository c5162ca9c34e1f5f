// The test "internet": one server answering as every lab host name (network
// aliases), over HTTP (80) and HTTPS (443, a lab certificate). Every request is
// logged as one JSON line so tests can assert what reached it (and what never did).
"use strict";
const fs = require("fs");
const http = require("http");
const https = require("https");
const { spawn } = require("child_process");

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

// git.lab.test: git's smart HTTP (git http-backend, as a CGI) for the one
// repository, to a client whose basic sign-in carries the lab's token as
// GitHub takes one (any user, the token as the password); 401 otherwise.
function git(req, res, body, url) {
  const token = process.env.LAB_GIT_TOKEN || "";
  const want = "Basic " + Buffer.from(`x-access-token:${token}`).toString("base64");
  if (!token || req.headers.authorization !== want) {
    res.writeHead(401, { "www-authenticate": 'Basic realm="lab"', "content-type": "text/plain" });
    return res.end("a token is needed\n");
  }
  const env = {
    PATH: process.env.PATH, GIT_PROJECT_ROOT: `${dir}/git`, GIT_HTTP_EXPORT_ALL: "1", REMOTE_USER: "agent",
    REMOTE_ADDR: req.socket.remoteAddress || "", REQUEST_METHOD: req.method, PATH_INFO: url.pathname,
    QUERY_STRING: url.search.slice(1), CONTENT_TYPE: req.headers["content-type"] || "",
    CONTENT_LENGTH: String(body.length), HTTP_CONTENT_ENCODING: req.headers["content-encoding"] || "",
    GIT_PROTOCOL: req.headers["git-protocol"] || "",
  };
  const cgi = spawn("git", ["http-backend"], { env });
  const out = [];
  cgi.stdout.on("data", (chunk) => out.push(chunk));
  cgi.stderr.on("data", (chunk) => log({ event: "git-http-backend", stderr: chunk.toString() }));
  cgi.on("close", () => {
    const all = Buffer.concat(out);
    const end = all.indexOf("\r\n\r\n") >= 0 ? all.indexOf("\r\n\r\n") + 4 : all.indexOf("\n\n") + 2;
    const headers = {};
    let status = 200;
    for (const line of all.subarray(0, end).toString().split(/\r?\n/)) {
      const at = line.indexOf(":");
      if (at < 0) continue;
      const [name, value] = [line.slice(0, at).trim(), line.slice(at + 1).trim()];
      if (name.toLowerCase() === "status") status = parseInt(value, 10);
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    res.end(all.subarray(end));
  });
  cgi.stdin.end(body);
}

function handler(scheme) {
  return (req, res) => {
    const chunks = [];
    req.on("data", (chunk) => { chunks.push(chunk); });
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const isGit = (req.headers.host || "").split(":")[0] === "git.lab.test";
      const body = isGit ? `(${raw.length} bytes of git)` : raw.toString("latin1");
      log({ scheme, host: req.headers.host, method: req.method, url: req.url, headers: req.headers, body,
        from: req.socket.remoteAddress });
      const url = new URL(req.url, `${scheme}://${req.headers.host}`);
      if (isGit) return git(req, res, raw, url);
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

// LAB_DIR: the Kubernetes lab runs this outside a container (scripts/setup/cluster/lab.sh)
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
