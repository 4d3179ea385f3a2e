#!/usr/bin/env bash
# Sample efficiency of the model-based programs on Pendulum (issue 13): for seeds 0-2,
# the real env steps until the greedy controller's mean return over the same 10
# evaluation episodes (pendulum(envs: 10, seed: 1)) first reaches -200 — CEM-MPC with a
# learned ensemble (pets_pendulum.rlp, its planner evaluated every 25 iterations =
# 100 env steps), MBPO (mbpo_pendulum.rlp, every 100 steps), backpropagation through
# the model (model_backprop_pendulum.rlp, every 100 iterations = 400 steps) — beside
# the SAC example (sac_pendulum.rlp, every 1,000 steps), all measured in this run.
# Evaluation steps are not counted. Takes ~17 minutes on 2 cores (the PETS evaluations
# plan 10 episodes of 200 steps each).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p rlpc
rlpc=./target/release/rlpc
out=$(mktemp -d)
# first FILE METRIC STEPS_PER_ITERATION: the env steps at the first row whose METRIC >= -200.
first() {
  awk -F, -v m="$2" -v k="$3" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == m) c = i; next }
    $c != "nan" && $c + 0 >= -200 { print $1 * k; found = 1; exit }
    END { if (!found) print "never" }' "$1"
}
run() { # NAME METRIC STEPS_PER_ITERATION ARGS...
  local name=$1 metric=$2 k=$3; shift 3
  local line="$name:"
  for seed in 0 1 2; do
    local t0=$(date +%s.%N)
    "$rlpc" run "$@" --seed $seed --quiet --checkpoint-every 0 --out "$out/r" >/dev/null
    local t1=$(date +%s.%N)
    line="$line  seed $seed: $(first "$out/r/metrics.csv" "$metric" "$k") steps ($(printf '%.0f' "$(echo "$t1 - $t0" | bc -l)") s)"
  done
  echo "$line"
}
run "SAC                 " greedy 1 examples/sac_pendulum.rlp --set iters=8001
run "MBPO                " greedy 1 examples/mbpo_pendulum.rlp --set iters=1501
run "model backprop      " greedy 4 examples/model_backprop_pendulum.rlp --set iters=1001
run "PETS (CEM, ensemble)" probe 4 examples/pets_pendulum.rlp --set probe_every=25 --set iters=101
rm -rf "$out"
