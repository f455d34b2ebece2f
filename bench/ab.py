#!/usr/bin/env python3
"""Builds of the webhook under the same load, with the ceiling server, taking turns.

    python3 bench/ab.py [--rounds N] [--seconds S] [--body FILE] [--against REV ...] [BINARY ...]

`--against REV` builds the release binary of commit REV (a git worktree under
target/ab/, built with its own target directory, target/ab/target, so deps are reused
from one comparison to the next) and loads it in the same rounds as the BINARYs: a
change is compared with a named earlier commit in one run.

Each round starts the ceiling (target/release/examples/ceiling) and then each binary, on
127.0.0.1, loads each with h2load over HTTP/2 at the floor's point (4 connections x 32
streams, as in `make bench`; --body, default the bench's review) for S seconds, and
stops it. h2load keeps no per-request log here (see `run.h2load`). The webhooks log
JSON, as the Deployment runs them. Taking turns makes the machine's drift, tens of
percent within minutes here, hit every server alike; the figures that carry over are
each build's median, over the rounds, of its throughput over the ceiling's in the same
round, and of the CPU it spends per request beyond the ceiling's. Build the ceiling
first: cargo build --release --example ceiling.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the load bench's servers, ports and h2load runner)

CONCURRENCY = run.FLOOR_CONNECTIONS * run.FLOOR_STREAMS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--body", type=Path, default=run.FIXTURE)
    ap.add_argument("--against", action="append", default=[], metavar="REV",
                    help="also load the release build of this commit")
    ap.add_argument("binaries", nargs="*", type=Path)
    args = ap.parse_args()
    args.binaries = [build_commit(rev) for rev in args.against] + args.binaries
    if not args.binaries:
        ap.error("name a BINARY or --against REV")
    (run.TARGET / "bench").mkdir(parents=True, exist_ok=True)
    figures: dict[str, list[tuple[float, float]]] = {str(b): [] for b in args.binaries}
    with tempfile.TemporaryDirectory() as tmp:
        certs = Path(tmp)
        subprocess.run([str(args.binaries[0]), "certs", "--out", str(certs), "--ip", "127.0.0.1"],
                       check=True, capture_output=True)
        for round_ in range(1, args.rounds + 1):
            ceiling = measure(run.start_ceiling(certs, args.body, run.ENDPOINT), args)
            line = [f"round {round_}: ceiling {ceiling[0]:.0f} req/s"]
            for binary in args.binaries:
                run.BIN = binary
                rate, cpu_us = measure(run.start_webhook(certs), args)
                figures[str(binary)].append((rate / ceiling[0], cpu_us - ceiling[1]))
                line.append(f"{binary.name} {rate / ceiling[0]:.3f} x")
            print(", ".join(line), flush=True)
    print(f"median over {args.rounds} rounds (HTTP/2, concurrency {CONCURRENCY}, {args.body.name}):")
    for binary, rows in figures.items():
        ratios = sorted(r for r, _ in rows)
        print(f"  {binary}: {statistics.median(ratios):.3f} x the ceiling's throughput "
              f"({ratios[0]:.3f} to {ratios[-1]:.3f}), "
              f"{statistics.median(c for _, c in rows):+.1f} µs of CPU per request over the ceiling's")


def build_commit(rev: str) -> Path:
    """The release binary of commit `rev`, built in a worktree of its own."""
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=run.ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    base = run.TARGET / "ab"
    binary = base / f"machine-efa-webhook-{commit}"
    if binary.exists():
        return binary
    tree = base / f"tree-{commit}"
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=run.ROOT, check=True)
    print(f"building {rev} ({commit}) in {tree}", flush=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "machine-efa-webhook"], cwd=tree,
                   env={**os.environ, "CARGO_TARGET_DIR": str(base / "target")}, check=True)
    (base / "target" / "release" / "machine-efa-webhook").replace(binary)
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=run.ROOT, check=True)
    return binary


def measure(server: run.Server, args: argparse.Namespace) -> tuple[float, float]:
    """Requests per second, and the server's CPU µs per request (warm-up included)."""
    try:
        before = run.cpu_seconds(server.proc.pid)
        result = run.h2load(server.port, args.body, run.ENDPOINT, True, CONCURRENCY, args.seconds,
                             latencies=False)
        used = run.cpu_seconds(server.proc.pid) - before
    finally:
        server.stop()
    counted = result["requests_per_second"] * (args.seconds + 1)
    return result["requests_per_second"], used / counted * 1e6 if counted else float("nan")


if __name__ == "__main__":
    main()
