#!/usr/bin/env bash
# Planning throughput (issue 13): CEM decisions with a 5-member [200, 200] ensemble
# (5 rounds × 400 candidates × 25 steps × 5 members = 250,000 candidate-steps per
# decision) in rlpc (bench/planning.rlp) and in JAX (bench/planning_jax.py, when
# PYTHON has jax), alternated three times. The rlpc figure is from metrics.csv's wall
# clock after the first decision (compilation and the first call left out, as the JAX
# script leaves out its compilation).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p rlpc
rlpc=./target/release/rlpc
py=${PYTHON:-python3}
out=$(mktemp -d)
n=${DECISIONS:-20}
for rep in 1 2 3; do
  "$rlpc" run bench/planning.rlp --set iters=$((n + 1)) --quiet --checkpoint-every 0 --out "$out/r" >/dev/null
  awk -F, -v n="$n" 'NR == 2 { t0 = $3 } END {
    dt = $3 - t0; printf "rlpc cem: %.2f decisions/s, %.2f M candidate-steps/s (%.0f ms per decision)\n",
      n / dt, n * 250000 / dt / 1e6, 1e3 * dt / n }' "$out/r/metrics.csv"
  "$py" bench/planning_jax.py "$n" || echo "(jax not installed for $py)"
done
rm -rf "$out"
