#!/usr/bin/env bash
# Side-by-side benchmark: builds Chronograph (release), copies ../shared/bench to a writable
# work dir (its setup installs nginx, oha, Tailcall, Hive Gateway under .tools), and runs the
# harness for Chronograph and Tailcall in one run on W3-W5 (Chronograph's queries/ours/).
#
#   benches/run.sh                       # defaults below
#   DURATION=20s CONCURRENCY=32 benches/run.sh
#   GATEWAYS="tailcall=... ours=... hive=..." benches/run.sh
#
# Results: the table printed at the end; raw files under /tmp/bench-run/. Record them in
# benches/RESULTS.md with the command, the commit and the date.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${BENCH_WORK:-/tmp/chronograph-bench}"
mkdir -p "$work"
rm -rf "$work/bench"
cp -r "$repo/../shared/bench" "$work/bench"
chmod -R u+w "$work/bench"
rm -rf "$work/bench/.tools" "$work/bench/upstream/data"
(cd "$repo" && cargo build --release --locked)
cd "$work/bench"
[ -e .tools ] || { mkdir -p "$work/tools-cache"; ln -sfn "$work/tools-cache" .tools; }
export GATEWAYS="${GATEWAYS:-tailcall=http://127.0.0.1:18090/graphql tailcall_bulkflows=http://127.0.0.1:18090/graphql ours=http://127.0.0.1:18100/graphql}"
export START_ours="${START_ours:-$repo/target/release/chronograph serve --config ours.toml}"
export WORKLOADS="${WORKLOADS:-W3 W4 W5}"
export DURATION="${DURATION:-10s}" CONCURRENCY="${CONCURRENCY:-32}"
echo "commit $(git -C "$repo" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ), DURATION=$DURATION CONCURRENCY=$CONCURRENCY"
./run.sh
