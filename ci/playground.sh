#!/usr/bin/env bash
# The playground in a headless browser (README "The playground"): starts the demo gateway,
# loads /playground in Debian's chromium, runs the first query and checks the result pane shows
# data, that the page made no request off the gateway and logged no error.
# Usage: ci/playground.sh [path/to/chronograph]   (default: target/debug/chronograph)
# Needs node (≥ 18) and chromium (Debian: apt-get install chromium; CHROMIUM=/path overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/debug/chronograph}"
addr="127.0.0.1:18203"
browser="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
if [ -z "$browser" ]; then
  echo "ci/playground.sh needs chromium (Debian: apt-get install chromium)" >&2
  exit 1
fi
"$bin" demo --listen "$addr" >/tmp/chronograph-playground.log 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://$addr/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
node ci/playground.mjs "http://$addr/playground" "$browser"
