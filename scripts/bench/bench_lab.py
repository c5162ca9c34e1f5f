"""The bench's lab: an --internal network of its own with an origin server
(HTTP on 80, TLS on 443, as `origin.bench`), a plain client container, a Squid
configured as a sidecar (and one without the SNI check) and a bare splice
relay. A bottle's sidecar leaves through this network (`egress.network`), so
the same client script runs inside a bottle, through its real sidecar, and in
the plain container, directly. Nothing here reaches beyond the network."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMAGE = "claude-bottle:latest"
ORIGIN = "origin.bench"

ORIGIN_JS = r"""
const big = Buffer.alloc(1 << 20, 120);
const fs = require('fs');
const tls = {key: fs.readFileSync('/tmp/k.pem'), cert: fs.readFileSync('/tmp/c.pem')};
const serve = (q, r) => {
  if (q.url.endsWith('/big')) {
    r.writeHead(200, {'content-length': 100 * big.length});
    let n = 0;
    const more = () => {
      while (n < 100) { n++; if (!r.write(big)) return r.once('drain', more); }
      r.end();
    };
    return more();
  }
  r.setHeader('content-length', 2); r.end('ok');
};
require('https').createServer(tls, serve).listen(443);
require('http').createServer(serve).listen(80, () => console.log('ready'));
"""
ORIGIN_SH = (
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
    f'-subj /CN={ORIGIN} -keyout /tmp/k.pem -out /tmp/c.pem 2>/dev/null && exec node -e "$ORIGIN_JS"'
)
# One client for every latency path: each measurement is a new connection and one
# GET of /small whose status (200) and body ("ok") are checked. A path is
# `http` or `https` (direct to the origin) or `http@HOST:PORT` / `https@HOST:PORT`
# (through a proxy: an absolute-URI GET, or TLS inside a CONNECT tunnel); HOST:PORT
# `env` is the proxy a bottle gives its agent (HTTPS_PROXY). It warms up, prints
# "ready HOSTNAME", then runs one round (N of each path, interleaved) per line read
# on its standard input and prints the round as JSON; it ends at the input's end.
CLIENT_JS = r"""
const http = require('http'), net = require('net'), tls = require('tls');
const os = require('os'), readline = require('readline');
const [origin, n, ...paths] = process.argv.slice(1);
const timed = (t) => Number(process.hrtime.bigint() - t) / 1e6;
const proxyOf = (via) => {
  const url = new URL(via === 'env' ? process.env.HTTPS_PROXY : `http://${via}`);
  return {host: url.hostname, port: +url.port};
};
const checked = (head, body, ok, fail, t) => head.startsWith('HTTP/1.1 200') && body === 'ok'
  ? ok(timed(t)) : fail(new Error(`answer: ${head.slice(0, 60)}`));
function plain(via) {
  return new Promise((ok, fail) => {
    const t = process.hrtime.bigint();
    const opts = via
      ? {...proxyOf(via), path: `http://${origin}/small`, agent: false, headers: {host: origin}}
      : {host: origin, port: 80, path: '/small', agent: false};
    http.get(opts, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => checked(`HTTP/1.1 ${res.statusCode}`, body, ok, fail, t));
    }).on('error', fail);
  });
}
function secure(via) {
  return new Promise((ok, fail) => {
    const t = process.hrtime.bigint();
    const request = (socket) => {
      const s = tls.connect({socket, servername: origin, rejectUnauthorized: false}, () => {
        s.write(`GET /small HTTP/1.1\r\nHost: ${origin}\r\nConnection: close\r\n\r\n`);
      });
      let got = '';
      s.on('data', (d) => { got += d; });
      s.on('end', () => checked(got, got.split('\r\n\r\n')[1], ok, fail, t));
      s.on('error', fail);
    };
    if (!via) return request(net.connect(443, origin));
    const proxy = proxyOf(via);
    const hello = `CONNECT ${origin}:443 HTTP/1.1\r\nHost: ${origin}:443\r\n\r\n`;
    const c = net.connect(proxy.port, proxy.host, () => c.write(hello));
    let head = '';
    const onData = (d) => {
      head += d;
      if (!head.includes('\r\n\r\n')) return;
      c.removeListener('data', onData);
      head.startsWith('HTTP/1.1 200') ? request(c) : fail(new Error(`CONNECT: ${head.slice(0, 60)}`));
    };
    c.on('data', onData);
    c.on('error', fail);
  });
}
const once = (path) => {
  const [scheme, via] = path.split('@');
  return scheme === 'https' ? secure(via) : plain(via);
};
(async () => {
  for (let i = 0; i < 20; i++) for (const p of paths) await once(p);
  console.log(`ready ${os.hostname()}`);
  for await (const _ of readline.createInterface({input: process.stdin})) {
    const round = Object.fromEntries(paths.map((p) => [p, []]));
    for (let i = 0; i < +n; i++) for (const p of paths) round[p].push(await once(p));
    console.log(JSON.stringify(round));
  }
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""
# A bare CONNECT relay that moves bytes with splice(2), never through user
# space: put in the sidecar's place, it shows what the extra hop alone costs
# on this machine, apart from anything Squid does. Lab only, never a product part.
RELAY_PY = r"""
import os, socket, threading
def pump(src, dst):
    r, w = os.pipe()
    try:
        while n := os.splice(src.fileno(), w, 1 << 20):
            while n:
                n -= os.splice(r, dst.fileno(), n)
    except OSError:
        pass
    os.close(r)
    os.close(w)
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def handle(c):
    head = b""
    while b"\r\n\r\n" not in head:
        head += c.recv(4096) or b"\r\n\r\n"
    host, port = head.split()[1].decode().rsplit(":", 1)
    s = socket.create_connection((host, int(port)))
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=pump, args=(s, c), daemon=True).start()
    pump(c, s)
listener = socket.create_server(("", 3128), backlog=64)
print("ready", flush=True)
while True:
    threading.Thread(target=handle, args=(listener.accept()[0],), daemon=True).start()
"""


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


def must(argv: list[str], **kwargs: Any) -> str:
    result = run(argv, **kwargs)
    if result.returncode != 0:
        sys.exit(f"bench: failed: {' '.join(argv[:6])}...\n{result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class Lab:
    network: str
    origin: str
    client: str  # a plain container on the lab network: the direct path
    squid: str  # Squid as a bottle runs it (the SNI check on), standalone
    squid_no_sni: str
    relay: str
    runtime: str


@contextmanager
def lab(label: str, runtime: str) -> Iterator[Lab]:
    """The lab, made and removed; its objects carry `label` (KEY=VALUE)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    from claude_bottle.proxies.base import ProxySpec
    from claude_bottle.proxies.squid import CONFIG_ENV, SquidBackend, render_squid_config
    from claude_bottle.proxies.squid import IMAGE as SQUID

    tag = secrets.token_hex(3)
    the = Lab(f"bench-{tag}", f"bench-origin-{tag}", f"bench-client-{tag}", f"bench-squid-{tag}",
              f"bench-squid-nosni-{tag}", f"bench-relay-{tag}", runtime)  # fmt: skip
    labels = ["--label", label]
    must(["docker", "network", "create", "--internal", *labels, the.network])
    try:
        common = ["--network", the.network, *labels]
        must(["docker", "run", "-d", "--name", the.origin, *common, "--network-alias", ORIGIN, "--user", "0",
              "--env", "ORIGIN_JS", IMAGE, "sh", "-c", ORIGIN_SH],
             env={**os.environ, "ORIGIN_JS": ORIGIN_JS})  # fmt: skip
        for name, sni in ((the.squid, True), (the.squid_no_sni, False)):
            config = render_squid_config(ProxySpec(allow=(), internal=(ORIGIN,), sni=sni))
            tmpfs = (a for p, o in SquidBackend().shape().tmpfs for a in ("--tmpfs", f"{p}:{o}"))
            must(["docker", "run", "-d", "--name", name, *common, "--cap-drop", "ALL", "--read-only", *tmpfs,
                  "--env", CONFIG_ENV, SQUID], env={**os.environ, CONFIG_ENV: config})  # fmt: skip
        must(["docker", "run", "-d", "--name", the.relay, *common, "--env", "RELAY_PY", IMAGE,
              "python3", "-c", RELAY_PY], env={**os.environ, "RELAY_PY": RELAY_PY})  # fmt: skip
        must(["docker", "run", "-d", "--name", the.client, *common, "--runtime", runtime, IMAGE,
              "sleep", "infinity"])  # fmt: skip
        deadline = time.monotonic() + 30
        while not (
            all("Accepting" in run(["docker", "logs", n]).stderr for n in (the.squid, the.squid_no_sni))
            and "ready" in run(["docker", "logs", the.relay]).stdout
            and "ready" in run(["docker", "logs", the.origin]).stdout
        ):
            if time.monotonic() > deadline:
                sys.exit("bench: the lab did not come up in 30 s")
            time.sleep(0.1)
        yield the
    finally:
        run(["docker", "rm", "-f", the.origin, the.squid, the.squid_no_sni, the.relay, the.client])
        # A bottle's sidecar may still be on the network for a moment (its watchdog removes it).
        deadline = time.monotonic() + 60
        while run(["docker", "network", "rm", the.network]).returncode and time.monotonic() < deadline:
            time.sleep(0.2)


class LatencyClient:
    """CLIENT_JS running in a process (`argv` ends with its arguments), driven
    one round at a time over its standard input."""

    def __init__(self, argv: list[str], what: str, **kwargs: Any) -> None:
        self.what = what
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, **kwargs)  # fmt: skip
        self.hostname = self._line().removeprefix("ready ").strip()

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            sys.exit(
                f"bench: the latency client {self.what} ended (exit {self.proc.returncode}):\n{err[-2000:]}"
            )
        return line

    def round(self) -> dict[str, list[float]]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return dict(json.loads(self._line()))

    def close(self) -> tuple[int, str]:
        """Its input closed: the client ends; its exit status and standard error."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        return self.proc.wait(), err


def client_args(per_round: int, paths: list[str]) -> list[str]:
    return ["node", "-e", CLIENT_JS, ORIGIN, str(per_round), *paths]


def direct_client(the: Lab, per_round: int, paths: list[str]) -> LatencyClient:
    argv = ["docker", "exec", "-i", the.client, *client_args(per_round, paths)]
    return LatencyClient(argv, f"in {the.client}")


def cpu_seconds(container: str) -> float:
    """CPU time the container's cgroup has used (cgroup v2 or v1), read from inside it."""
    read = "cat /sys/fs/cgroup/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpuacct/cpuacct.usage"
    out = run(["docker", "exec", container, "sh", "-c", read]).stdout
    usec = re.search(r"usage_usec (\d+)", out)
    return int(usec.group(1)) / 1e6 if usec else int(out.split()[0]) / 1e9


def download_rounds(
    client: str, scheme: str, proxies: dict[str, str | None], rounds: int
) -> dict[str, list[float]]:
    """100 MB downloads in one shell in the client: every path once per round,
    the order reversed every other round so that a slow spell of a shared
    machine falls on all paths alike; round 0 only warms up. MB/s per path."""
    lines = []
    for i in range(rounds + 1):
        for name in proxies if i % 2 == 0 else reversed(proxies):
            via = f"-x http://{proxies[name]}:3128" if proxies[name] else ""
            report = f"{i} {name} %{{speed_download}} %{{size_download}} %{{http_code}}\\n"
            lines.append(f"curl -m 120 -sk -o /dev/null -w '{report}' {via} {scheme}://{ORIGIN}/big")
    out: dict[str, list[float]] = {name: [] for name in proxies}
    for line in must(["docker", "exec", client, "sh", "-c", "\n".join(lines)]).splitlines():
        i, name, rate, size, status = line.split()
        if int(size) != 100 << 20 or status != "200":
            sys.exit(f"bench: a {scheme} download via {name} failed or was cut short: {line}")
        if int(i) > 0:
            out[name].append(float(rate) / 1e6)
    return out


def downloads(the: Lab, rounds: int) -> tuple[dict[str, dict[str, list[float]]], dict[str, float]]:
    """HTTPS (a CONNECT tunnel, what an agent's downloads are), then plain HTTP
    (no bare relay: it only tunnels), with the standalone Squid's CPU per 100 MB."""
    speeds, sidecar_cpu = {}, {}
    for scheme, paths in (("https", {"direct": None, "squid": the.squid, "relay": the.relay}),
                          ("http", {"direct": None, "squid": the.squid})):  # fmt: skip
        before = cpu_seconds(the.squid)
        speeds[scheme] = download_rounds(the.client, scheme, paths, rounds)
        sidecar_cpu[scheme] = (cpu_seconds(the.squid) - before) / (rounds + 1)
    return speeds, sidecar_cpu
