#!/usr/bin/env bash
# The attack suite (issue 19): starts the demo gateway and runs ci/attack.rs against it —
# fragment bombs over POST, GET, batches and WebSocket, 300 slow sockets, oversize WebSocket
# messages and a 2,000-subscribe flood — asserting during each that a normal query answers
# within 1 s and that the server's RSS stays under 200 MB. Loopback only, bounded in count and
# time. Usage: ci/attack.sh [path/to/chronograph]   (default: target/debug/chronograph)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/debug/chronograph}"
addr="127.0.0.1:18202"
cargo build --quiet --locked --example attack
"$bin" demo --listen "$addr" >/tmp/chronograph-attack.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://$addr/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
timeout 300 target/debug/examples/attack "$addr" "$server"
