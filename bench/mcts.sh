#!/usr/bin/env bash
# Tree-search throughput at 64 searches × 100 simulations (rollout 20, depth 16) on
# CartPole: rlpc's std.plan.uct (bench/mcts.rlp) beside mctx (bench/mcts_mctx.py), three
# runs each, simulations per second (compile time excluded on both sides) and the ratio
# of the best runs. PYTHON picks an interpreter with mctx (0.0.5) and jax (0.4.38).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p rlpc
iters=${ITERS:-400}
out=$(mktemp -d)
best_r=0
for k in 1 2 3; do
  line=$(./target/release/rlpc run bench/mcts.rlp --quiet --out "$out/r$k" --checkpoint-every 0 \
           --set iters="$iters" | grep done)
  secs=$(sed -E 's/.* in ([0-9.]+) s .*/\1/' <<<"$line")
  rate=$(awk -v i="$iters" -v s="$secs" 'BEGIN { printf "%.0f", i * 64 * 100 / s }')
  echo "rlpc: $iters searches of 64x100 in $secs s: $rate simulations/s"
  best_r=$(( rate > best_r ? rate : best_r ))
done
rm -rf "$out"
best_m=0
for k in 1 2 3; do
  line=$("${PYTHON:-python3}" bench/mcts_mctx.py 64 100 20 16 20)
  echo "$line"
  rate=$(sed -E 's/.*: ([0-9]+) simulations\/s.*/\1/' <<<"$line")
  best_m=$(( rate > best_m ? rate : best_m ))
done
awk -v r="$best_r" -v m="$best_m" \
  'BEGIN { printf "best: rlpc %d, mctx %d simulations/s; ratio %.1fx\n", r, m, r / m }'
