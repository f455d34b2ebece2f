#!/usr/bin/env python3
"""`make bench` and `make bench-quick`: the end-to-end load bench, and BENCHMARKS.md.

The release webhook and the ceiling server (examples/ceiling.rs) are each started on
127.0.0.1 with the same certificate, loaded with h2load over HTTP/2 and HTTP/1.1
keep-alive at a sweep of concurrencies, and stopped. Throughput and p99 are stated as
ratios to the ceiling measured in the same run. The core's criterion figures and
allocation counts (benches/core.rs) are read from target/.

    bench/run.py            # the full run; writes BENCHMARKS.md
    bench/run.py --quick    # one short point per protocol; prints, writes nothing tracked
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
FIXTURE = ROOT / "tests" / "fixtures" / "machineset-create-efa-m5.json"
# The same review as `oc apply` has the API server send it (bench/applied_fixture.py).
APPLIED = ROOT / "tests" / "fixtures" / "machineset-create-efa-m5-applied.json"
# Webhook and ceiling in turn, this many times, for the throughput ratio at the ceiling's
# peak point: the machine's speed drifts by tens of percent within minutes, and taking
# turns makes the drift hit both alike.
PAIRS = 5
PAIR_SECONDS = 4
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def wait_tcp(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.005)
    raise RuntimeError(f"nothing listening on {port}")


def wait_ready(metrics_port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{metrics_port}/readyz"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=0.2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.001)
    raise RuntimeError("the webhook did not become ready")


class Server:
    """A server process on loopback, stopped on exit."""

    def __init__(self, name: str, argv: list[str], port: int, metrics_port: int | None):
        self.name, self.port = name, port
        self.log = open(TARGET / "bench" / f"{name}.log", "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        if metrics_port:
            wait_ready(metrics_port)
        else:
            wait_tcp(port)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def percentile(sorted_values: list[int], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def latency_percentiles(durations_us: list[int]) -> dict:
    """p50, p99 and p99.9 of request durations, in microseconds, from h2load's log."""
    ordered = sorted(durations_us)
    return {"p50_us": percentile(ordered, 50), "p99_us": percentile(ordered, 99),
            "p999_us": percentile(ordered, 99.9)}


def median_by_p99(points: list[dict]) -> dict:
    """Of repeated runs, the one with the median p99, holding every run's p99; `points`
    is left sorted by p99. Paced latency on two shared cores moves by tenths of a
    millisecond between runs, so one run alone says little."""
    points.sort(key=lambda x: x["p99_us"])
    return points[len(points) // 2] | {"p99_us_runs": [x["p99_us"] for x in points]}


def h2load(port: int, body: Path, endpoint: str, http2: bool, concurrency: int,
           duration: int, rps_per_client: float | None = None, latencies: bool = True) -> dict:
    """One h2load run; latency percentiles from its per-request log. Without
    `latencies`, h2load keeps no such log: writing a line per request costs the load
    generator, on the same two cores, CPU that the server under test would otherwise
    have, and the more so the more CPU that server needs."""
    clients = min(concurrency, 4) if http2 else concurrency
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
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    status = re.search(r"status codes: (\d+) 2xx", out)
    protocol = re.search(r"Application protocol: (\S+)", out)
    durations = []
    if log_file:
        durations = [int(line.split("\t")[2]) for line in Path(log_file).read_text().splitlines() if line]
        os.unlink(log_file)
    return {
        "requests_per_second": float(m.group(1)) if m else 0.0,
        "succeeded": int(done.group(4)) if done else 0,
        "failed": int(done.group(5)) + int(done.group(6)) if done else -1,
        "status_2xx": int(status.group(1)) if status else 0,
        "protocol": protocol.group(1) if protocol else "?",
        "clients": clients,
        "streams": streams,
    } | (latency_percentiles(durations) if latencies else {})


def half_peak(server: Server, peak: dict, endpoint: str, duration: int, runs: int) -> dict:
    """HTTP/2 at half `peak`'s rate (paced by h2load's --rps), at its concurrency, `runs`
    times: the run with the median p99."""
    half = peak["requests_per_second"] / 2
    points = []
    for _ in range(runs):
        point = h2load(server.port, FIXTURE, endpoint, True, peak["concurrency"], duration,
                       rps_per_client=half / peak["clients"])
        point.update({"target": server.name, "http2": True, "concurrency": peak["concurrency"],
                      "offered_rps": round(half)})
        points.append(point)
    middle = median_by_p99(points)
    print(f"  {server.name:8} h2 at the webhook's half peak ({half:.0f} req/s offered), {runs} runs: "
          f"p99 " + ", ".join(f"{x:.0f}" for x in middle["p99_us_runs"]) + f" µs; median run p99.9 {middle['p999_us']:.0f} µs")
    return middle


def even_load(port: int, body: Path, endpoint: str, script_rate: float, seconds: int) -> dict:
    """HTTP/2 with requests offered evenly: h2load's timing script gives each of 4
    connections (up to 16 streams each, as at the peak) one request every 4 / `script_rate`
    seconds. The first second is warm-up and left out. h2load times each request from when
    it sent it, and sets each script timer from the last, late by the loop's latency (libev
    sleeps at least a millisecond), so the script asks for more than it gets: the rate
    achieved is counted from the log."""
    clients, streams = 4, 16
    interval_ms = 1000 * clients / script_rate
    url = f"https://127.0.0.1:{port}/{endpoint}?timeout=10s"
    with tempfile.TemporaryDirectory() as tmp:
        script, log_file = Path(tmp) / "script.tsv", Path(tmp) / "log.tsv"
        script.write_text("".join(f"{i * interval_ms:.3f}\t{url}\n"
                                  for i in range(int((seconds + 1) * 1000 / interval_ms))))
        subprocess.run(["h2load", "-c", str(clients), "-m", str(streams), "-t", "1",
                        "--timing-script-file", str(script), "--log-file", str(log_file),
                        "-d", str(body), "-H", "content-type: application/json"],
                       capture_output=True, text=True, check=True)
        rows = [line.split("\t") for line in log_file.read_text().splitlines() if line]
    if not rows:
        raise RuntimeError("h2load logged no requests")
    first = min(int(row[0]) for row in rows)
    measured = [row for row in rows if int(row[0]) >= first + 1_000_000]
    if not measured:
        raise RuntimeError("h2load logged no requests after its warm-up second")
    span_s = (max(int(row[0]) for row in measured) - first - 1_000_000) / 1e6
    if span_s <= 0:
        raise RuntimeError("h2load logged too few requests to tell their rate")
    return {"requests_per_second": len(measured) / span_s,
            "failed": sum(1 for row in measured if not row[1].startswith("2")),
            "script_rps": round(script_rate)} | latency_percentiles([int(row[2]) for row in measured])


def even_half_peak(server: Server, peak: dict, endpoint: str, runs: int) -> dict:
    """HTTP/2 at half `peak`'s rate offered evenly (`even_load`): of the runs that deliver
    that rate to within 5 %, the first `runs`, and the one of them with the median p99.
    How late h2load's script timers run depends on the server's answers, so after each run
    the script rate is corrected (damped: the same script rate delivers different rates
    from one run to the next)."""
    half = peak["requests_per_second"] / 2
    script_rate = half * 1.5
    points, attempts = [], 0
    while len(points) < runs:
        attempts += 1
        if attempts > 4 * runs + 8:
            raise RuntimeError(f"h2load's timing script did not deliver {half:.0f} req/s to within 5 %")
        point = even_load(server.port, FIXTURE, endpoint, script_rate, 5)
        got = point["requests_per_second"]
        if abs(got / half - 1) <= 0.05:
            points.append(point)
        script_rate *= (half / got) ** 0.7
    middle = median_by_p99(points) | {"target": server.name, "wanted_rps": round(half), "attempts": attempts,
                                      "rps_runs": [round(x["requests_per_second"]) for x in points]}
    print(f"  {server.name:8} h2 at the webhook's half peak ({half:.0f} req/s) offered evenly, {runs} of {attempts} runs at "
          + ", ".join(f"{x:,}" for x in middle["rps_runs"]) + " req/s: p99 "
          + ", ".join(f"{x:.0f}" for x in middle["p99_us_runs"]) + f" µs; median run p99.9 {middle['p999_us']:.0f} µs",
          flush=True)
    return middle


def load_sweep(server: Server, body: Path, endpoint: str, sweep: list[int], duration: int) -> list[dict]:
    rows = []
    for http2 in (True, False):
        for concurrency in sweep:
            before = cpu_seconds(server.proc.pid)
            run = h2load(server.port, body, endpoint, http2, concurrency, duration)
            used = cpu_seconds(server.proc.pid) - before
            # The warm-up second is not in h2load's count but is in the CPU time.
            counted = run["requests_per_second"] * (duration + 1)
            run.update({
                "target": server.name,
                "http2": http2,
                "concurrency": concurrency,
                "cpu_s_per_10k": round(used / counted * 10_000, 3) if counted else None,
            })
            rows.append(run)
            print(f"  {server.name:8} {'h2' if http2 else 'h1'} c={concurrency:<3} "
                  f"{run['requests_per_second']:9.0f} req/s  p50 {run['p50_us']:6.0f} µs  "
                  f"p99 {run['p99_us']:6.0f} µs  p99.9 {run['p999_us']:6.0f} µs  "
                  f"cpu {run['cpu_s_per_10k']} s/10k  failed {run['failed']}", flush=True)
    return rows


def start_webhook(cert_dir: Path) -> Server:
    port, metrics = free_port(), free_port()
    argv = [str(BIN), "serve", "--listen", f"127.0.0.1:{port}", "--metrics-listen",
            f"127.0.0.1:{metrics}", "--tls-cert", str(cert_dir / "tls.crt"),
            "--tls-key", str(cert_dir / "tls.key"), "--region", "us-east-1",
            # As the Deployment runs it: one JSON log line per review.
            "--log-format", "json",
            # No load balancer to drain from: stop at once.
            "--shutdown-delay", "0s"]
    return Server("webhook", argv, port, metrics)


def start_ceiling(cert_dir: Path, body: Path, endpoint: str) -> Server:
    port = free_port()
    argv = [str(CEILING), f"127.0.0.1:{port}", str(cert_dir / "tls.crt"),
            str(cert_dir / "tls.key"), str(body), endpoint]
    return Server("ceiling", argv, port, None)


def paired(cert_dir: Path, body: Path, endpoint: str, pairs: int, duration: int) -> dict:
    """The HTTP/2 point at concurrency 64 (4 connections x 16 streams), webhook then
    ceiling, `pairs` times: each pair's throughput ratio, and their median. Without
    h2load's per-request log: these runs are for throughput only."""
    rounds = []
    for _ in range(pairs):
        pair = {}
        for start in (lambda: start_webhook(cert_dir), lambda: start_ceiling(cert_dir, body, endpoint)):
            server = start()
            try:
                pair[server.name] = h2load(server.port, body, endpoint, True, 64, duration,
                                            latencies=False)
            finally:
                server.stop()
        pair["ratio"] = pair["webhook"]["requests_per_second"] / pair["ceiling"]["requests_per_second"]
        rounds.append(pair)
    ratios = sorted(p["ratio"] for p in rounds)
    print(f"  {body.name}: throughput ratio per pair " + ", ".join(f"{x:.3f}" for x in ratios)
          + f"; median {statistics.median(ratios):.3f}", flush=True)
    return {"body": body.name, "body_bytes": body.stat().st_size, "seconds": duration, "pairs": rounds,
            "median_ratio": statistics.median(ratios), "min_ratio": ratios[0], "max_ratio": ratios[-1]}


def start_to_ready(cert_dir: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        port, metrics = free_port(), free_port()
        argv = [str(BIN), "serve", "--listen", f"127.0.0.1:{port}", "--metrics-listen",
                f"127.0.0.1:{metrics}", "--tls-cert", str(cert_dir / "tls.crt"),
                "--tls-key", str(cert_dir / "tls.key"), "--region", "us-east-1",
                "--shutdown-delay", "0s"]
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(metrics)
        times.append((time.monotonic() - started) * 1000)
        proc.terminate()
        proc.wait()
    return times


def handshakes(server: Server, cafile: Path, connections: int) -> dict:
    """New TLS connections, each with one HTTP/1.1 request: full handshakes, then
    resumed ones (the client offers the session from the previous connection). The
    server's CPU per connection is what counts; Python's ssl client sets the rate."""
    import ssl
    figures = {}
    for resume in (False, True):
        context = ssl.create_default_context(cafile=str(cafile))
        context.set_alpn_protocols(["http/1.1"])
        session, reused = None, 0
        before, started = cpu_seconds(server.proc.pid), time.monotonic()
        for _ in range(connections):
            with socket.create_connection(("127.0.0.1", server.port)) as raw:
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with context.wrap_socket(raw, server_hostname="127.0.0.1",
                                         session=session if resume else None) as tls:
                    tls.sendall(b"GET /healthz HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
                    while tls.recv(4096):
                        pass
                    reused += tls.session_reused
                    session, version = tls.session, tls.version()
        wall, used = time.monotonic() - started, cpu_seconds(server.proc.pid) - before
        figures["resumed" if resume else "full"] = {
            "connections": connections, "reused": reused,
            "per_second": round(connections / wall), "server_cpu_us": round(used / connections * 1e6),
            "version": version,
        }
        print(f"  {server.name:8} {'resumed' if resume else 'full'} handshakes: "
              f"{connections / wall:.0f} connections/s, server CPU {used / connections * 1e6:.0f} µs "
              f"per connection, {reused} resumed ({version})", flush=True)
    return figures


def criterion_estimates() -> dict[str, dict]:
    found = {}
    for estimates in (TARGET / "criterion").glob("**/new/estimates.json"):
        name = estimates.parent.parent.relative_to(TARGET / "criterion").as_posix()
        data = json.loads(estimates.read_text())
        found[name] = {
            "mean_ns": data["mean"]["point_estimate"],
            "low_ns": data["mean"]["confidence_interval"]["lower_bound"],
            "high_ns": data["mean"]["confidence_interval"]["upper_bound"],
        }
    return found


# One busy loop per core, reading the clock: any gap between two reads is time the
# core was taken away (by the host, or the kernel's own threads).
SPIN = """
import json, sys, time
clock = time.perf_counter
end = clock() + float(sys.argv[1])
last = clock()
gaps = []
while last < end:
    now = clock()
    if now - last > 0.0005:
        gaps.append(now - last)
    last = now
print(json.dumps(gaps))
"""


def stalls(seconds: float) -> dict:
    """How much time each core loses while every core is busy, before any load runs.
    A request caught in a stall waits it out, so the share of time with more than 2 ms of
    stall still ahead is a share of requests that the machine alone makes late."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN, str(seconds)], stdout=subprocess.PIPE, text=True)
                for _ in range(os.cpu_count() or 1)]
    gaps = [g for p in spinners for g in json.loads(p.communicate()[0])]
    cores = len(spinners)
    return {"seconds": seconds, "cores": cores,
            "over_1ms": sum(g > 0.001 for g in gaps), "over_2ms": sum(g > 0.002 for g in gaps),
            "longest_ms": round(max(gaps, default=0) * 1000, 2),
            "lost_share": sum(gaps) / (seconds * cores),
            "beyond_2ms_share": sum(max(0.0, g - 0.002) for g in gaps) / (seconds * cores)}


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    h2 = subprocess.run(["h2load", "--version"], capture_output=True, text=True).stdout.strip()
    mem = status_kib(os.getpid(), "VmRSS")  # touch /proc to fail early if absent
    total_mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": total_mem,
            "kernel": platform.release(), "rustc": rustc, "h2load": h2, "_": mem} | kernel_scheduling()


def kernel_scheduling() -> dict:
    """The kernel's tick and preemption model, where the kernel publishes its config: a
    woken thread that finds every core busy may wait for the next tick."""
    try:
        config = subprocess.run(["zcat", "/proc/config.gz"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    found = {}
    for line in config.splitlines():
        if line.startswith("CONFIG_HZ="):
            found["tick_ms"] = 1000 / int(line.split("=", 1)[1])
        elif re.fullmatch(r"CONFIG_PREEMPT(_NONE|_VOLUNTARY|_LAZY)?=y", line):
            found["preemption"] = {"CONFIG_PREEMPT_NONE": "none", "CONFIG_PREEMPT_VOLUNTARY": "voluntary",
                                   "CONFIG_PREEMPT_LAZY": "lazy", "CONFIG_PREEMPT": "full"}[line.split("=")[0]]
    # A dynamic-preemption kernel runs its built-in model unless the command line names one.
    chosen = re.search(r"(?:^| )preempt=(\S+)", Path("/proc/cmdline").read_text())
    if chosen:
        found["preemption"] = chosen.group(1)
    return found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", help="where to write the figures [target/bench/results.json, or quick.json with --quick]")
    args = ap.parse_args()
    if args.out is None:
        args.out = str(TARGET / "bench" / ("quick.json" if args.quick else "results.json"))
    if not shutil.which("h2load"):
        sys.exit("h2load is missing: the make target installs Debian's nghttp2-client")
    (TARGET / "bench").mkdir(parents=True, exist_ok=True)
    sweep = [16] if args.quick else [1, 4, 16, 64]
    duration = 2 if args.quick else 8
    half_peak_runs = 1 if args.quick else 3
    endpoint = "validate"

    with tempfile.TemporaryDirectory() as tmp:
        cert_dir = Path(tmp)
        subprocess.run([str(BIN), "certs", "--out", str(cert_dir), "--ip", "127.0.0.1"],
                       check=True, capture_output=True)
        results: dict = {"machine": machine(), "quick": args.quick, "duration_s": duration,
                         "fixture": FIXTURE.relative_to(ROOT).as_posix(), "endpoint": endpoint,
                         "body_bytes": FIXTURE.stat().st_size}
        if not args.quick:
            results["stalls"] = st = stalls(10)
            print(f"stalls with every core busy, {st['seconds']} s: {st['over_1ms']} over 1 ms, {st['over_2ms']} over 2 ms, "
                  f"longest {st['longest_ms']} ms; {st['beyond_2ms_share']:.2%} of the time more than 2 ms of stall ahead", flush=True)
        print(f"load: {FIXTURE.name} to /{endpoint}, {duration} s per point after 1 s warm-up")
        # The same review as the API server's Go encoder writes it: no indentation.
        compact = cert_dir / "machineset-create-efa-m5-compact.json"
        compact.write_text(json.dumps(json.loads(FIXTURE.read_text()), separators=(",", ":")))
        results["compact_body_bytes"] = compact.stat().st_size
        rows = []
        for start in (lambda: start_webhook(cert_dir), lambda: start_ceiling(cert_dir, FIXTURE, endpoint)):
            server = start()
            try:
                rows += load_sweep(server, FIXTURE, endpoint, sweep, duration)
                if server.name == "webhook":
                    peak = max((r for r in rows if r["target"] == "webhook" and r["http2"]),
                               key=lambda r: r["requests_per_second"])
                # The webhook's half-peak rate, offered to the webhook and then to the
                # ceiling: what the same paced load costs in latency on this machine
                # with nothing but TLS and HTTP behind it.
                results[f"half_peak_{server.name}"] = half_peak(server, peak, endpoint, duration, half_peak_runs)
                if not args.quick:
                    results[f"even_half_peak_{server.name}"] = even_half_peak(server, peak, endpoint, half_peak_runs)
                results[f"{server.name}_peak_rss_kib"] = status_kib(server.proc.pid, "VmHWM")
                if not args.quick:
                    results.setdefault("handshakes", {})[server.name] = handshakes(
                        server, cert_dir / "ca.crt", 2000)
            finally:
                server.stop()
        results["load"] = rows
        if not args.quick:
            print(f"HTTP/2, concurrency 64, webhook and ceiling in turn, {PAIRS} pairs of {PAIR_SECONDS} s:")
            results["paired"] = [paired(cert_dir, body, endpoint, PAIRS, PAIR_SECONDS)
                                 for body in (FIXTURE, compact, APPLIED)]
            times = start_to_ready(cert_dir, 15)
            results["start_to_ready_ms"] = {"median": statistics.median(times), "max": max(times),
                                            "runs": len(times)}
            print(f"start to ready: median {statistics.median(times):.1f} ms over {len(times)} runs")
    results["binary_bytes"] = BIN.stat().st_size
    results["embedded_table_bytes"] = (ROOT / "data" / "capabilities.json").stat().st_size
    results["criterion"] = criterion_estimates()
    allocations = TARGET / "bench" / "allocations.json"
    results["allocations"] = json.loads(allocations.read_text()) if allocations.exists() else {}
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"peak RSS: webhook {results['webhook_peak_rss_kib'] / 1024:.1f} MiB, "
          f"ceiling {results['ceiling_peak_rss_kib'] / 1024:.1f} MiB")
    for http2 in (True, False):
        ours = {r["concurrency"]: r for r in rows if r["target"] == "webhook" and r["http2"] == http2}
        ceil = {r["concurrency"]: r for r in rows if r["target"] == "ceiling" and r["http2"] == http2}
        for c in sorted(ours):
            print(f"  {'h2' if http2 else 'h1'} c={c}: throughput {ours[c]['requests_per_second'] / ceil[c]['requests_per_second']:.2f}x "
                  f"the ceiling, p99 {ours[c]['p99_us'] / ceil[c]['p99_us']:.2f}x")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
