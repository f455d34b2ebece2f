#!/usr/bin/env bash
# Interleaved A/B of webhook binaries under the same load: each round starts each binary
# in turn on 127.0.0.1, loads it with h2load (HTTP/2, 4 connections x 4 streams, the
# denial fixture, JSON logs as the Deployment runs it) and stops it. Interleaving makes
# the machine's drift hit every binary alike.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY [ROUNDS]
#
# Prints req/s, the server's CPU µs per request (from /proc) and peak RSS (VmHWM).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
old=$1 new=$2 rounds=${3:-3}
certs=$(mktemp -d)
trap 'rm -rf "$certs"' EXIT
"$new" certs --out "$certs" --ip 127.0.0.1 >/dev/null 2>&1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
for round in $(seq "$rounds"); do
  for bin in "$old" "$new"; do
    port=$(free_port) metrics=$(free_port)
    "$bin" serve --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$metrics" \
      --tls-cert "$certs/tls.crt" --tls-key "$certs/tls.key" --region us-east-1 --log-format json \
      >/dev/null 2>&1 &
    pid=$!
    until curl -sf "http://127.0.0.1:$metrics/readyz" >/dev/null; do sleep 0.05; done
    before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    rate=$(h2load -c 4 -m 4 -t 1 -D 4 --warm-up-time 1 -d "$root/tests/fixtures/machineset-create-efa-m5.json" \
      -H 'content-type: application/json' "https://127.0.0.1:$port/validate" |
      sed -nE 's/^finished in .*, ([0-9.]+) req\/s.*/\1/p')
    after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    peak=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    kill "$pid"
    wait "$pid" || true
    # CPU ticks are 1/100 s; the warm-up second is in the CPU time, not in the rate.
    python3 -c "import sys; r, b, a, p = map(float, sys.argv[2:6]); print(f'round {sys.argv[1]} {sys.argv[6]}: {r:.0f} req/s, {(a - b) * 1e4 / (r * 5):.1f} µs CPU per request, peak RSS {p / 1024:.1f} MiB')" \
      "$round" "$rate" "$before" "$after" "$peak" "$bin"
  done
done
