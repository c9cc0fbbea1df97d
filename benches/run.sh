#!/usr/bin/env bash
# Side-by-side benchmark: builds Chronograph (release), copies ../shared/bench to a writable
# work dir (its setup installs nginx, oha, Tailcall, Hive Gateway under .tools), and runs the
# harness for Chronograph and Tailcall in one run on W3-W5 (Chronograph's queries/ours/), with
# and without request de-duplication (ours / ours_nodedupe, tailcall / tailcall_nodedupe).
#
#   benches/run.sh                       # side by side, defaults below
#   benches/run.sh instructions          # CPU instructions per query under callgrind
#                                        # (ours_nodedupe and tailcall_nodedupe, W3-W5)
#   benches/run.sh declared              # instructions of a declared source (benches/declared:
#                                        # Rocket.Chat as kind = "http") against the built-in
#                                        # adapter, W4
#   DURATION=20s CONCURRENCY=32 benches/run.sh
#   GATEWAYS="tailcall=... ours=... hive=..." benches/run.sh
#   SERVERS="ours_nodedupe=http://127.0.0.1:18101/graphql" benches/run.sh instructions
#
# The binary is taken from $CARGO_TARGET_DIR (default: target/) after `cargo build --release`.
# Results: the table printed at the end; raw files under /tmp/bench-run/ (instructions:
# /tmp/bench-instructions/). Record them in benches/RESULTS.md with the command, the commit
# and the date.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
step="${1:-run}"
case "$step" in
  run | instructions | declared) ;;
  *) echo "usage: benches/run.sh [run | instructions | declared]" >&2; exit 2 ;;
esac
work="${BENCH_WORK:-/tmp/chronograph-bench}"
mkdir -p "$work"
rm -rf "$work/bench"
cp -r "$repo/../shared/bench" "$work/bench"
chmod -R u+w "$work/bench"
rm -rf "$work/bench/.tools" "$work/bench/upstream/data"
(cd "$repo" && cargo build --release --locked)
bin="${CARGO_TARGET_DIR:-$repo/target}/release/chronograph"
case "$bin" in /*) ;; *) bin="$repo/$bin" ;; esac
cp "$repo/benches/declared/ours_declared.toml" "$work/bench/"
cp -r "$repo/benches/declared/queries/ours_declared" "$work/bench/queries/"
cd "$work/bench"
[ -e .tools ] || { mkdir -p "$work/tools-cache"; ln -sfn "$work/tools-cache" .tools; }
export START_ours="${START_ours:-$bin serve --config ours.toml}"
export START_ours_nodedupe="${START_ours_nodedupe:-$bin serve --config ours_nodedupe.toml}"
export QUERIES_ours_nodedupe="${QUERIES_ours_nodedupe:-ours}"
export WORKLOADS="${WORKLOADS:-W3 W4 W5}"
echo "commit $(git -C "$repo" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ)"
if [ "$step" = declared ]; then
  # The same query through the built-in adapter and through its declared twin.
  export START_ours_declared="${START_ours_declared:-$bin serve --config ours_declared.toml}"
  export SERVERS="${SERVERS:-ours_nodedupe=http://127.0.0.1:18101/graphql ours_declared=http://127.0.0.1:18102/graphql}"
  export WORKLOADS="${DECLARED_WORKLOADS:-W4}"
  echo "N=${N:-20} WORKLOADS=$WORKLOADS SERVERS=$SERVERS"
  ./instructions.sh
  exit
fi
if [ "$step" = instructions ]; then
  # One query at a time under callgrind: (instructions of 2 + N queries - of 2) / N.
  export SERVERS="${SERVERS:-ours_nodedupe=http://127.0.0.1:18101/graphql tailcall_nodedupe=http://127.0.0.1:18091/graphql}"
  echo "N=${N:-20} WORKLOADS=$WORKLOADS SERVERS=$SERVERS"
  ./instructions.sh
  exit
fi
export GATEWAYS="${GATEWAYS:-tailcall=http://127.0.0.1:18090/graphql tailcall_bulkflows=http://127.0.0.1:18090/graphql tailcall_nodedupe=http://127.0.0.1:18091/graphql ours=http://127.0.0.1:18100/graphql ours_nodedupe=http://127.0.0.1:18101/graphql}"
export DURATION="${DURATION:-10s}" CONCURRENCY="${CONCURRENCY:-32}"
echo "DURATION=$DURATION CONCURRENCY=$CONCURRENCY GATEWAYS=$GATEWAYS"
./run.sh
