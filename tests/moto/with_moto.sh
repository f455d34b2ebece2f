#!/usr/bin/env bash
# Runs a command with the paging moto EC2 emulator listening on 127.0.0.1, and stops it
# afterwards whatever happens. The command sees MOTO_ENDPOINT and dummy AWS credentials.
set -euo pipefail
python=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
workdir=$(mktemp -d)
port_file=$workdir/port
"$python" "$here/paged_moto.py" --port 0 --port-file "$port_file" &
moto_pid=$!
cleanup() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT
for _ in $(seq 1 600); do
  [ -s "$port_file" ] && break
  kill -0 "$moto_pid" 2>/dev/null || { echo "moto failed to start" >&2; exit 1; }
  sleep 0.1
done
[ -s "$port_file" ] || { echo "moto did not start within 60 s" >&2; exit 1; }
export MOTO_ENDPOINT="http://127.0.0.1:$(cat "$port_file")"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
echo "moto EC2 emulator at $MOTO_ENDPOINT" >&2
"$@"
