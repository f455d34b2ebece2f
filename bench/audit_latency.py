#!/usr/bin/env python3
"""Answer latency with and without the background audit, in turns.

    python3 bench/audit_latency.py [--rounds N] [--machines M] [--rate R]

Each round starts the webhook twice on 127.0.0.1, once plain and once with
`--audit-interval 1s` against a stand-in API server (in this process) that lists M
Machines (default 20,000, half of them denied) in pages of 500, so the audit runs back
to back; each time h2load offers R reviews/s (default 2,000) over HTTP/2 for 8 s and the
latency percentiles are taken from its per-request log. The figures that carry over are
the medians over the rounds. Build first: cargo build --release.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the load bench's servers, ports and h2load runner)


def machine_pages(count: int) -> dict[str, bytes]:
    """The list pages, rendered once: the stand-in must not compete for the CPU."""
    review = json.loads(run.FIXTURE.read_text())
    template = review["request"]["object"]["spec"]["template"]
    machine = {"apiVersion": "machine.openshift.io/v1beta1", "kind": "Machine",
               "metadata": {"namespace": "openshift-machine-api", "labels": template["metadata"].get("labels", {})},
               "spec": template["spec"]}
    pages = {}
    for start in range(0, count, 500):
        items = []
        for i in range(start, min(count, start + 500)):
            m = copy.deepcopy(machine)
            m["metadata"] |= {"name": f"bench-{i}", "uid": f"uid-{i}"}
            if i % 2:
                m["spec"]["providerSpec"]["value"]["instanceType"] = "p4d.24xlarge"
            items.append(m)
        meta = {"resourceVersion": "1"} | ({"continue": str(start + 500)} if start + 500 < count else {})
        pages[str(start)] = json.dumps({"apiVersion": "machine.openshift.io/v1beta1", "kind": "MachineList",
                                        "metadata": meta, "items": items}).encode()
    return pages


def stand_in_api(count: int) -> tuple[int, ThreadingHTTPServer]:
    pages = machine_pages(count)
    empty = json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": []}).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path.endswith("/machines"):
                body = pages[parse_qs(url.query).get("continue", ["0"])[0]]
            else:
                body = empty
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1], server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--machines", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=2000.0)
    args = ap.parse_args()
    api_port, api = stand_in_api(args.machines)
    rows: dict[str, list[dict]] = {"without the audit": [], "with the audit": []}
    with tempfile.TemporaryDirectory() as tmp:
        certs = Path(tmp)
        subprocess.run([str(run.BIN), "certs", "--out", str(certs), "--ip", "127.0.0.1"],
                       check=True, capture_output=True)
        kubeconfig = certs / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
            "clusters": [{"name": "stand-in", "cluster": {"server": f"http://127.0.0.1:{api_port}"}}],
            "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "none"}}],
            "users": [{"name": "none", "user": {}}]}))
        os.environ["KUBECONFIG"] = str(kubeconfig)  # the webhook's kube client
        for round_ in range(1, args.rounds + 1):
            for label in rows:
                extra = ("--audit-interval", "1s") if label == "with the audit" else ()
                server = run.start_webhook(certs, extra)
                time.sleep(2)
                clients = run.FLOOR_CONNECTIONS
                result = run.h2load(server.port, run.FIXTURE, run.ENDPOINT, True, 16, 8,
                                    rps_per_client=args.rate / clients)
                server.stop()
                rows[label].append(result)
                print(f"round {round_}: {label}: {result['requests_per_second']:.0f} req/s, p50 {result['p50_us']} µs, "
                      f"p99 {result['p99_us']} µs, p99.9 {result['p999_us']} µs, failed {result['failed']}", flush=True)
    api.shutdown()
    print(f"median over {args.rounds} rounds ({args.machines} Machines, {args.rate:.0f} reviews/s over HTTP/2):")
    for label, results in rows.items():
        p = {k: statistics.median(r[k] for r in results) for k in ("p50_us", "p99_us", "p999_us")}
        print(f"  {label}: p50 {p['p50_us']:.0f} µs, p99 {p['p99_us']:.0f} µs, p99.9 {p['p999_us']:.0f} µs")


if __name__ == "__main__":
    main()
