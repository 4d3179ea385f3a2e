#!/usr/bin/env bash
# Replay buffer throughput at capacity 10^6: rlpc (bench/replay.rlp) beside a numpy ring
# buffer doing the same work (bench/replay_numpy.py), in one run, and the same work by
# hand in C (bench/replay_floor.c) as the machine's floor when a C compiler is there.
# PYTHON picks the interpreter (numpy needed).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p rlpc
out=$(mktemp -d)
for k in 1 2 3; do
  ./target/release/rlpc run bench/replay.rlp --quiet --out "$out/r$k" --checkpoint-every 0 | grep done
done
for k in 1 2 3; do
  "${PYTHON:-python3}" bench/replay_numpy.py 200000
done
if cc -O2 -march=native -o "$out/floor" bench/replay_floor.c -lm 2>/dev/null; then
  for k in 1 2 3; do "$out/floor" 200000; done
fi
rm -rf "$out"
