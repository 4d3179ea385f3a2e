#!/usr/bin/env bash
# Benchmark A of issue 18: PPO on CartPole at PureJaxRL's configuration, rlpc against
# the same algorithm jit-compiled by JAX on the CPU (bench/ppo_jax.py), rounds
# alternating so both see the same machine load.
#
#   PYTHON=/path/to/venv/bin/python bench/ppo_small.sh [ROUNDS]
#
# The rlpc program is examples/ppo_cartpole.rlp with 4 environments, lr 2.5e-4 and the
# gradient norm clipped at 0.5, run for 976 iterations (4 × 128 steps each, 4 epochs × 4
# minibatches of 128: 499,712 env steps). Differences from the JAX program, both cheap:
# rlpc keeps the learning rate fixed (JAX anneals it) and does not clip the value loss.
# Each figure is env steps / training seconds (rlpc: the run's own wall, which excludes
# compilation; JAX: the compiled function's run). Needs jax (tested with 0.10.2).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
python=${PYTHON:-python3}
cargo build --release -q -p rlpc
rlpc=./target/release/rlpc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -e 's/^lr     = 2.5e-3/lr     = 2.5e-4/' \
    -e 's/cartpole(envs: 8)/cartpole(envs: 4)/' \
    -e 's/adam(lr: lr)/adam(lr: lr, max_grad_norm: 0.5)/' \
    examples/ppo_cartpole.rlp > "$work/ppo_pjr.rlp"
grep -q 'envs: 4' "$work/ppo_pjr.rlp" && grep -q 'max_grad_norm: 0.5' "$work/ppo_pjr.rlp"
steps=499712
for r in $(seq "$rounds"); do
  line=$("$rlpc" run "$work/ppo_pjr.rlp" --set iters=976 --seed "$r" --checkpoint-every 0 \
           --quiet --out "$work/run$r" | grep '^done:')
  secs=$(echo "$line" | sed -E 's/.* in ([0-9.]+) s .*/\1/')
  ret=$(tail -1 "$work/run$r/metrics.csv" | awk -F, '{print $NF}')
  echo "round $r rlpc: train $secs s, $(echo "$steps / $secs" | bc) env steps/s, final return $ret"
  JAX_PLATFORMS=cpu "$python" bench/ppo_jax.py --updates 976 --seed "$r" | sed "s/^/round $r /"
done | tee "$work/rounds"
# The goal's FLOP bound: every matrix product of one iteration (the rollout's steps and
# the 16 minibatch updates; bench/flops.py --iteration) at the best rate numpy or JAX
# (its loop inside one jitted call) reaches at that very shape, against the time per
# iteration that 2x JAX's best round allows for everything.
if floor=$(python3 bench/flops.py "$work/ppo_pjr.rlp" --iteration \
             --bound "$python" jax-loop numpy 2>/dev/null | tail -1); then
  us=$(echo "$floor" | sed -E 's/.*: ([0-9.]+) us.*/\1/')
  jax=$(grep 'jax compile' "$work/rounds" | grep -o 'train [0-9.]* s' | awk '{print $2}' |
        sort -n | head -1)
  echo "$us $jax" | awk '{budget = $2 / 976 / 2 * 1e6;
    printf "products of one iteration at the best per-shape rates: >= %.0f us; 2x JAX (best round %.2f s) allows %.0f us an iteration for everything: %.0f %%, leaving %.0f us for the rest\n", $1, $2, budget, 100 * $1 / budget, budget - $1}'
fi
