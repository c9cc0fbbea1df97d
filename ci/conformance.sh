#!/usr/bin/env bash
# Runs the GraphQL-over-HTTP audit and the security probe (../shared/tools) against a started
# demo server, and the probe with --prod against production-like settings (ci/prod.toml).
# Usage: ci/conformance.sh [path/to/chronograph]   (default: target/debug/chronograph)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/debug/chronograph}"
tools="../shared/tools"
demo_addr="127.0.0.1:18200"
prod_addr="127.0.0.1:18201"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_ready() {
  for _ in $(seq 1 100); do
    curl -fsS "http://$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on $1 did not start" >&2
  return 1
}

"$bin" demo --listen "$demo_addr" >/tmp/chronograph-conformance-demo.log 2>&1 &
pids+=($!)
"$bin" serve --config ci/prod.toml >/tmp/chronograph-conformance-prod.log 2>&1 &
pids+=($!)
wait_ready "$demo_addr"
wait_ready "$prod_addr"

echo "== graphql-http audit (demo)"
node "$tools/graphql-http-audit.mjs" "http://$demo_addr/graphql" | tail -n 1
echo "== security probe (demo)"
node "$tools/graphql-security-probe.mjs" "http://$demo_addr/graphql" | tail -n 1
echo "== security probe --prod"
node "$tools/graphql-security-probe.mjs" "http://$prod_addr/graphql" --prod | tail -n 1
# The audit is not run against the prod settings: four of its audits send introspection
# queries, which those settings refuse on purpose (see ../shared/tools/README.md).
