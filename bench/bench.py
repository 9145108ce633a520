#!/usr/bin/env python3
"""The gateway's own benchmark: starts a release gateway on a fresh database, seeds one
organization (100 endpoints, 50 of them with a phone number), loads it with oha (from
crates.io: `oha` on PATH, or installed into bench/.tools on first use) and prints, per case,
throughput, p50/p99 latency and the gateway's CPU per request (from /proc), then its RSS.
At a fixed rate, oha spaces requests evenly and corrects for coordinated omission.

    cargo build --release
    python3 bench/bench.py                          # saturating: 32 connections, 8 s per case
    python3 bench/bench.py --rate 500               # a fixed 500 req/s: latency without queueing
    python3 bench/bench.py --rss                    # RSS idle, after 10,000 and after 100,000 requests
    python3 bench/bench.py --database-url postgres://postgres@127.0.0.1:5432/bench_cockpit

A PostgreSQL database named in --database-url is dropped and made again. Only 127.0.0.1 is
loaded. Figures move with a shared machine's noise; compare runs made one after the other.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
OHA = "oha"
TICK = os.sysconf("SC_CLK_TCK")

FIELDS = ("id name type url status providerConfig { __typename ... on VapiConfig { assistantId } } "
          "createdAt updatedAt")
CASES = {
    "byId": "query($id: UUID!) { endpoint(id: $id) { %s } }" % FIELDS,
    "list50": "{ endpoints(first: 50, orderBy: {field: CREATED_AT, direction: ASC}) { nodes { %s } } }" % FIELDS,
    "list50+phones": ("{ endpoints(first: 50, orderBy: {field: CREATED_AT, direction: ASC}) "
                      "{ nodes { %s phoneNumbers { e164 } } } }" % FIELDS),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", default="target/release/cockpit-gateway")
    ap.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    ap.add_argument("--secs", type=int, default=8)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--rate", type=int, default=0, help="a fixed overall rate (req/s) instead of saturating")
    ap.add_argument("--only", default=None, help="comma-separated cases: " + ", ".join(CASES))
    ap.add_argument("--rss", action="store_true", help="measure RSS after 10,000 and 100,000 by-id reads")
    args = ap.parse_args()

    gateway = os.path.abspath(args.gateway)
    if not os.path.exists(gateway):
        sys.exit(f"no gateway at {gateway}: run `cargo build --release` first")
    global OHA
    OHA = oha()

    tmp = tempfile.mkdtemp(prefix="cockpit-bench-")
    database = args.database_url or f"sqlite://{tmp}/bench.db?mode=rwc"
    if database.startswith("postgres"):
        base, name = database.split("?")[0].rsplit("/", 1)
        for sql in (f"drop database if exists {name}", f"create database {name}"):
            subprocess.run(["psql", f"{base}/postgres", "-qc", sql], check=True, capture_output=True)
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database, COCKPIT_LISTEN=f"127.0.0.1:{port}",
               COCKPIT_SECRET_KEY="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
               # A bucket no run empties: the benchmark measures work, not the rate limit.
               COCKPIT_RATE_LIMIT_BUCKET="1000000000", COCKPIT_RATE_LIMIT_RESTORE="1000000000")
    env.setdefault("RUST_LOG", "info")

    def cli(*argv):
        return subprocess.run([gateway, *argv], env=env, check=True, capture_output=True, text=True).stdout

    cli("migrate")
    org = re.search(r"[0-9a-f-]{36}", cli("org", "create", "--name", "Bench")).group(0)
    key = re.search(r"kros_test_\w+", cli("key", "create", "--org", org, "--mode", "test", "--name", "bench")).group(0)
    numbers = [cli("phone-number", "add", "--org", org, "--mode", "test", "--number", f"+1415555{i:04d}").strip()
               for i in range(50)]

    log = open(os.path.join(tmp, "gateway.log"), "w")
    server = subprocess.Popen([gateway, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, server)
        url = f"http://127.0.0.1:{port}/graphql"
        idle_rss = rss_mib(server.pid)
        ids = seed(url, key, numbers)
        print(f"gateway {gateway}\ndatabase {database.split('?')[0]}\nidle RSS {idle_rss:.1f} MiB "
              f"(after seeding {rss_mib(server.pid):.1f} MiB)\n")
        if args.rss:
            measure_rss(url, key, ids[0], server.pid)
            return
        mode = f"fixed {args.rate} req/s" if args.rate else f"{args.conns} connections"
        print(f"{'case':14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11}   ({mode}, {args.secs} s)")
        for name, query in CASES.items():
            if args.only and name not in args.only.split(","):
                continue
            variables = {"id": ids[0]} if "$id" in query else {}
            r = load(url, key, query, variables, args.secs, args.conns, args.rate, 0, server.pid)
            print(f"{name:14} {r['rps']:8.0f} {r['p50_ms']:8} {r['p99_ms']:8} {r['cpu_us']:11}", flush=True)
        print(f"\nRSS after the runs {rss_mib(server.pid):.1f} MiB")
    finally:
        server.terminate()
        server.wait(timeout=30)


def seed(url, key, numbers):
    ids = []
    for i in range(100):
        endpoint = {"name": f"endpoint {i}", "type": "VAPI", "providerConfig": {"vapi": {"assistantId": f"asst-{i}"}}}
        if i < len(numbers):
            endpoint["phoneNumberId"] = numbers[i]
        r = graphql(url, key, "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) "
                              "{ endpoint { id } userErrors { code message } } }", {"input": endpoint})
        payload = r["data"]["createEndpoint"]
        if payload["userErrors"]:
            sys.exit(f"seeding failed: {payload['userErrors']}")
        ids.append(payload["endpoint"]["id"])
    return ids


def measure_rss(url, key, endpoint_id, pid):
    query = CASES["byId"]
    done = 0
    for target in (10_000, 100_000):
        r = load(url, key, query, {"id": endpoint_id}, 0, 32, 0, target - done, pid)
        done = target
        print(f"RSS after {done:>7,} by-id reads: {rss_mib(pid):.1f} MiB   ({r['rps']:.0f} req/s, "
              f"{r['cpu_us']} us CPU/req)", flush=True)


def load(url, key, query, variables, secs, conns, rate, amount, pid):
    """One oha run: for `secs` seconds or `amount` requests, at `conns` connections, at `rate`
    requests per second when given (else as fast as they answer)."""
    command = [OHA, "--no-tui", "--output-format", "json", "-c", str(conns), "-m", "POST",
               "-H", "content-type: application/json", "-H", f"authorization: Bearer {key}",
               "-d", json.dumps({"query": query, "variables": variables}), url]
    command += ["-n", str(amount)] if amount else ["-z", f"{secs}s"]
    if rate:
        command += ["-q", str(rate), "--latency-correction"]
    probe = graphql(url, key, query, variables)
    if probe.get("errors") or not probe.get("data"):
        sys.exit(f"the case fails: {json.dumps(probe)[:400]}")
    before = cpu_seconds(pid)
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"oha failed: {out.stderr.strip()[-400:]}")
    report = json.loads(out.stdout)
    total = sum(report["statusCodeDistribution"].values())
    # Requests still in flight when a timed run ends are cut off by oha: not failures.
    errors = {e: n for e, n in report["errorDistribution"].items() if e != "aborted due to deadline"}
    bad = total - report["statusCodeDistribution"].get("200", 0) + sum(errors.values())
    if bad:
        sys.exit(f"{bad} requests failed or answered non-200: {errors}")
    ms = lambda seconds: round(seconds * 1000, 2)
    return {
        "rps": report["summary"]["requestsPerSec"],
        "p50_ms": ms(report["latencyPercentiles"]["p50"]),
        "p99_ms": ms(report["latencyPercentiles"]["p99"]),
        "cpu_us": round((cpu_seconds(pid) - before) / max(total, 1) * 1e6),
    }


def oha():
    """oha: on PATH, or built into bench/.tools from crates.io (a few minutes, once)."""
    found = shutil.which("oha") or os.path.join(HERE, ".tools", "bin", "oha")
    if not os.path.exists(found):
        print("installing oha 1.16.0 from crates.io into bench/.tools (once)...", flush=True)
        subprocess.run(["cargo", "install", "oha", "--locked", "--version", "1.16.0",
                        "--root", os.path.join(HERE, ".tools")], check=True)
    return found


def graphql(url, key, query, variables):
    req = urllib.request.Request(url, data=json.dumps({"query": query, "variables": variables}).encode(),
                                 headers={"content-type": "application/json", "authorization": f"Bearer {key}"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc):
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                sys.exit("the gateway exited at start")
            time.sleep(0.1)
    sys.exit("the gateway did not listen")


if __name__ == "__main__":
    main()
