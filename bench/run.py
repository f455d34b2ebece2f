#!/usr/bin/env python3
"""`make bench` and `make bench-quick`: the HTTPS load bench, and whether the floor holds.

The release webhook and the ceiling server (examples/ceiling.rs) are each started on
127.0.0.1 with the same certificate, loaded with h2load over HTTP/2 and HTTP/1.1
keep-alive at a sweep of concurrencies, and stopped. Then the floor's point, HTTP/2 at
4 connections x 32 streams, is run webhook and ceiling in turn, several pairs, and the
median of the pairs' throughput ratios is judged against the floor. The core's criterion
figures (benches/core.rs) are read from target/.

    bench/run.py            # the full run; target/bench/results.json for bench/report.py
    bench/run.py --quick    # short points; prints the floor's verdict, writes nothing tracked
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target"
BIN = TARGET / "release" / "machine-efa-webhook"
CEILING = TARGET / "release" / "examples" / "ceiling"
# The denial with five suggestions, the heaviest realistic review, as `oc apply` has the
# API server send it: compact, with managedFields and the last-applied annotation
# (bench/applied_fixture.py makes it from tests/fixtures/machineset-create-efa-m5.json).
FIXTURE = ROOT / "tests" / "fixtures" / "machineset-create-efa-m5-applied.json"
# The floor is judged on both bodies: the one above, and the review a real kube-apiserver
# v1.36 sent for `kubectl create` of the same MachineSet (compact, managedFields set
# before admission), captured by tests/it/admission.rs.
FLOOR_BODIES = {
    "applied": FIXTURE,
    "apiserver": ROOT / "tests" / "fixtures" / "machineset-create-efa-m5-apiserver.json",
}
ENDPOINT = "validate"
# The floor: at this point, the webhook's HTTP/2 throughput is at least this share of
# the ceiling's in the same run; and its peak RSS at most this many MiB.
FLOOR_CONNECTIONS, FLOOR_STREAMS = 4, 32
FLOOR_RATIO = 0.5
FLOOR_RSS_MIB = 40
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def wait_for(ready, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{what} did not start")


class Server:
    """A server process on loopback, stopped with `stop`."""

    def __init__(self, name: str, argv: list[str], port: int, metrics_port: int | None):
        self.name, self.port = name, port
        (TARGET / "bench").mkdir(parents=True, exist_ok=True)
        self.log = open(TARGET / "bench" / f"{name}.log", "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        if metrics_port:
            url = f"http://127.0.0.1:{metrics_port}/readyz"
            wait_for(lambda: urllib.request.urlopen(url, timeout=0.2).status == 200, name)
        else:
            wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=0.2).close() or True, name)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def start_webhook(cert_dir: Path, extra_args: tuple[str, ...] = ()) -> Server:
    port, metrics = free_port(), free_port()
    argv = [str(BIN), "serve", "--listen", f"127.0.0.1:{port}", "--metrics-listen",
            f"127.0.0.1:{metrics}", "--tls-cert", str(cert_dir / "tls.crt"),
            "--tls-key", str(cert_dir / "tls.key"), "--region", "us-east-1",
            # As the Deployment runs it: one JSON log line per review.
            "--log-format", "json",
            # No load balancer to drain from: stop at once.
            "--shutdown-delay", "0s", *extra_args]
    return Server("webhook", argv, port, metrics)


def start_ceiling(cert_dir: Path, body: Path, endpoint: str) -> Server:
    port = free_port()
    argv = [str(CEILING), f"127.0.0.1:{port}", str(cert_dir / "tls.crt"),
            str(cert_dir / "tls.key"), str(body), endpoint]
    return Server("ceiling", argv, port, None)


def percentile(sorted_values: list[int], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def h2load(port: int, body: Path, endpoint: str, http2: bool, concurrency: int,
           duration: int, rps_per_client: float | None = None, latencies: bool = True) -> dict:
    """One h2load run; latency percentiles from its per-request log. Without
    `latencies`, h2load keeps no such log: on two shared cores, writing a line per
    request takes CPU from the server under test, the more so the more CPU it needs."""
    clients = min(concurrency, FLOOR_CONNECTIONS) if http2 else concurrency
    streams = max(1, concurrency // clients) if http2 else 1
    argv = ["h2load", "-c", str(clients), "-m", str(streams), "-t", "1",
            "-D", str(duration), "--warm-up-time", "1",
            "-d", str(body), "-H", "content-type: application/json"]
    log_file = None
    if latencies:
        with tempfile.NamedTemporaryFile(suffix=".tsv", delete=False) as f:
            log_file = f.name
        argv += ["--log-file", log_file]
    if not http2:
        argv.append("--h1")
    if rps_per_client:
        argv += ["--rps", f"{rps_per_client:.1f}"]
    argv.append(f"https://127.0.0.1:{port}/{endpoint}?timeout=10s")
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rate = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    result = {
        "requests_per_second": float(rate.group(1)) if rate else 0.0,
        "failed": int(done.group(5)) + int(done.group(6)) if done else -1,
        "clients": clients,
        "streams": streams,
    }
    if log_file:
        durations = sorted(int(line.split("\t")[2]) for line in Path(log_file).read_text().splitlines() if line)
        os.unlink(log_file)
        result |= {"p50_us": percentile(durations, 50), "p99_us": percentile(durations, 99),
                   "p999_us": percentile(durations, 99.9)}
    return result


def load_sweep(server: Server, sweep: list[int], duration: int) -> list[dict]:
    rows = []
    for http2 in (True, False):
        for concurrency in sweep:
            before = cpu_seconds(server.proc.pid)
            run = h2load(server.port, FIXTURE, ENDPOINT, http2, concurrency, duration)
            used = cpu_seconds(server.proc.pid) - before
            # The warm-up second is not in h2load's count but is in the CPU time.
            counted = run["requests_per_second"] * (duration + 1)
            run |= {"target": server.name, "http2": http2, "concurrency": concurrency,
                    "cpu_us_per_request": round(used / counted * 1e6, 1) if counted else None}
            rows.append(run)
            print(f"  {server.name:8} {'h2' if http2 else 'h1'} c={concurrency:<3} "
                  f"{run['requests_per_second']:9.0f} req/s  p50 {run['p50_us']:6.0f} µs  "
                  f"p99 {run['p99_us']:6.0f} µs  p99.9 {run['p999_us']:6.0f} µs  "
                  f"cpu {run['cpu_us_per_request']} µs/request  failed {run['failed']}", flush=True)
    return rows


def half_peak(server: Server, peak: dict, duration: int, runs: int) -> dict:
    """HTTP/2 at half `peak`'s rate, paced by h2load's --rps, at its concurrency, `runs`
    times: the run with the median p99, holding every run's p99 (paced latency on two
    shared cores moves by tenths of a millisecond between runs)."""
    half = peak["requests_per_second"] / 2
    points = [h2load(server.port, FIXTURE, ENDPOINT, True, peak["concurrency"], duration,
                     rps_per_client=half / peak["clients"]) for _ in range(runs)]
    points.sort(key=lambda x: x["p99_us"])
    middle = points[len(points) // 2] | {"offered_rps": round(half),
                                         "p99_us_runs": [x["p99_us"] for x in points]}
    print(f"  {server.name:8} h2 at the webhook's half peak ({half:.0f} req/s offered), {runs} runs: "
          "p99 " + ", ".join(f"{x:.0f}" for x in middle["p99_us_runs"]) + " µs", flush=True)
    return middle


def paired(cert_dir: Path, pairs: int, duration: int, body: Path) -> dict:
    """The floor's point with `body`, webhook then ceiling, `pairs` times: each pair's
    throughput ratio and their median. The machine's speed drifts by tens of percent
    within minutes; taking turns makes the drift hit both alike."""
    concurrency = FLOOR_CONNECTIONS * FLOOR_STREAMS
    rounds = []
    for _ in range(pairs):
        pair = {}
        for start in (lambda: start_webhook(cert_dir), lambda: start_ceiling(cert_dir, body, ENDPOINT)):
            server = start()
            try:
                pair[server.name] = h2load(server.port, body, ENDPOINT, True, concurrency,
                                           duration, latencies=False)
                if server.name == "webhook":
                    pair["webhook_peak_rss_kib"] = peak_rss_kib(server.proc.pid)
            finally:
                server.stop()
        pair["ratio"] = pair["webhook"]["requests_per_second"] / pair["ceiling"]["requests_per_second"]
        rounds.append(pair)
    ratios = sorted(p["ratio"] for p in rounds)
    median = statistics.median(ratios)
    print(f"  {body.name}: HTTP/2 at {FLOOR_CONNECTIONS} connections x {FLOOR_STREAMS} streams, {pairs} pairs of {duration} s: "
          "ratio " + ", ".join(f"{x:.3f}" for x in ratios) + f"; median {median:.3f}", flush=True)
    return {"fixture": body.relative_to(ROOT).as_posix(), "body_bytes": body.stat().st_size,
            "seconds": duration, "pairs": rounds, "median_ratio": median,
            "min_ratio": ratios[0], "max_ratio": ratios[-1]}


def criterion_estimates() -> dict[str, dict]:
    found = {}
    for estimates in (TARGET / "criterion").glob("**/new/estimates.json"):
        name = estimates.parent.parent.relative_to(TARGET / "criterion").as_posix()
        found[name] = {"mean_ns": json.loads(estimates.read_text())["mean"]["point_estimate"]}
    return found


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    version = lambda argv: subprocess.run(argv, capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "memory_mib": int(Path("/proc/meminfo").read_text().split()[1]) // 1024,
            "rustc": version(["rustc", "--version"]), "h2load": version(["h2load", "--version"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", help="where to write the figures [target/bench/results.json, or quick.json with --quick]")
    args = ap.parse_args()
    out = Path(args.out or TARGET / "bench" / ("quick.json" if args.quick else "results.json"))
    if not shutil.which("h2load"):
        sys.exit("h2load is missing: the make target installs Debian's nghttp2-client")
    sweep = [16] if args.quick else [1, 16, FLOOR_CONNECTIONS * FLOOR_STREAMS]
    duration = 2 if args.quick else 8
    pairs, pair_seconds = (3, 2) if args.quick else (5, 4)

    with tempfile.TemporaryDirectory() as tmp:
        cert_dir = Path(tmp)
        subprocess.run([str(BIN), "certs", "--out", str(cert_dir), "--ip", "127.0.0.1"],
                       check=True, capture_output=True)
        results: dict = {"machine": machine(), "quick": args.quick, "duration_s": duration,
                         "fixture": FIXTURE.relative_to(ROOT).as_posix(), "endpoint": ENDPOINT,
                         "body_bytes": FIXTURE.stat().st_size, "floor_ratio": FLOOR_RATIO,
                         "floor_rss_mib": FLOOR_RSS_MIB,
                         "floor_point": {"connections": FLOOR_CONNECTIONS, "streams": FLOOR_STREAMS}}
        print(f"load: {FIXTURE.name} to /{ENDPOINT}, {duration} s per point after 1 s warm-up")
        rows = []
        for start in (lambda: start_webhook(cert_dir), lambda: start_ceiling(cert_dir, FIXTURE, ENDPOINT)):
            server = start()
            try:
                rows += load_sweep(server, sweep, duration)
                if server.name == "webhook":
                    peak = max((r for r in rows if r["target"] == "webhook" and r["http2"]),
                               key=lambda r: r["requests_per_second"])
                # The webhook's half-peak rate, offered to both: what the same paced load
                # costs in latency with nothing but TLS and HTTP behind it.
                results[f"half_peak_{server.name}"] = half_peak(server, peak, duration, 1 if args.quick else 3)
                results[f"{server.name}_peak_rss_kib"] = peak_rss_kib(server.proc.pid)
            finally:
                server.stop()
        results["load"] = rows
        results["paired"] = {name: paired(cert_dir, pairs, pair_seconds, body)
                             for name, body in FLOOR_BODIES.items()}
    results["criterion"] = criterion_estimates()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")

    rss = max(results["webhook_peak_rss_kib"],
              *(p["webhook_peak_rss_kib"] for body in results["paired"].values() for p in body["pairs"])) / 1024
    for name, body in results["paired"].items():
        ratio = body["median_ratio"]
        print(f"floor, {name} body ({body['fixture']}, {body['body_bytes']} bytes): throughput {ratio:.2f} x the ceiling "
              f"(floor {FLOOR_RATIO} x): {'holds' if ratio >= FLOOR_RATIO else 'LOST'}")
    print(f"floor: peak RSS {rss:.1f} MiB (floor {FLOOR_RSS_MIB} MiB): {'holds' if rss <= FLOOR_RSS_MIB else 'LOST'}")
    half, half_ceiling = results["half_peak_webhook"], results["half_peak_ceiling"]
    print(f"p99 at half the peak: webhook {half['p99_us'] / 1000:.2f} ms, ceiling {half_ceiling['p99_us'] / 1000:.2f} ms")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
