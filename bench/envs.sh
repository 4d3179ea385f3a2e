#!/usr/bin/env bash
# Environment-stepping throughput: rlpc's .rlp CartPole and Pendulum kernels, stepped by
# `rlpc run` of a generated program (uniform-random policy written in .rlp, one long
# rollout per iteration), beside Gymnasium's numpy-vectorised CartPole
# (`gymnasium.make_vec("CartPole-v1", vectorization_mode="vector_entry_point")`) and
# Pendulum (`gymnasium.vector.SyncVectorEnv`) measured in the same run.
#
# Two rlpc figures per configuration, from two programs that differ only in what they
# read of the batch:
#   rewards  - the program logs the mean reward, so the rollout stores the rewards and
#              none of the fields nothing reads (observations included);
#   batch    - the program also reads every other field of the batch (one step of each,
#              so reading costs nothing), so the rollout stores the whole batch:
#              observations, next observations, actions, flags, returns.
#
# Usage:   bench/envs.sh [RLPC_BINARY]      (default: target/release/rlpc; build it with
#                                            `cargo build --release -p rlpc` first)
# Needs:   /tmp/gymvenv with gymnasium 1.4.0 + numpy for the baseline
#          (python3 -m venv /tmp/gymvenv && /tmp/gymvenv/bin/pip install gymnasium==1.4.0 numpy);
#          set GYM_PYTHON to use another interpreter, or GYM_PYTHON=none to skip it.
# Output:  a markdown table on stdout. rlpc steps/s exclude compile time (stderr's
#          "compiled … in X ms" line) and the first iteration: they come from the run's
#          metrics.csv (cumulative env_steps and wall_s of the training loop). The ratios
#          are the `rewards` figure over Gymnasium's, measured two ways: with actions
#          drawn before timing (`step` alone, the stricter baseline) and with each step's
#          actions drawn in the timed loop by numpy (as rlpc's figure includes its draws).
set -euo pipefail
cd "$(dirname "$0")/.."
RLPC=${1:-target/release/rlpc}
PY=${GYM_PYTHON:-/tmp/gymvenv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# envs steps-per-rollout iterations
CONFIGS=("1 2000 50" "64 1000 200" "1024 500 100" "16384 100 50")

rlpc_rate() { # env envs steps iterations rewards|batch -> "steps/s compile_ms"
  local env=$1 n=$2 t=$3 it=$4 reads=$5 action extra=""
  if [ "$env" = cartpole ]; then
    action="i32(floor(uniform([$n], low: 0.0, high: 2.0)))"
  else
    action="uniform([$n, 1], low: -2.0, high: 2.0)"
  fi
  if [ "$reads" = batch ]; then
    extra="  log k = mean(batch.obs[0]) + mean(batch.next_obs[0]) + mean(f32(batch.action[0])) + mean(f32(batch.terminated[0])) + mean(f32(batch.truncated[0])) + mean(f32(batch.done[0])) + mean(batch.episode_return[0]) + mean(batch.not_terminated[0])"
  fi
  cat > "$WORK/b.rlp" <<RLP
use std.env.$env
env = $env(envs: $n, seed: 1)
policy = obs -> { sample: () -> $action }
train iterations: $it {
  sample batch = rollout(env, policy, steps: $t)
  log r = mean(batch.reward)
$extra
}
RLP
  "$RLPC" run --out "$WORK/run" "$WORK/b.rlp" >"$WORK/out" 2>"$WORK/err" || {
    cat "$WORK/err" >&2; exit 1; }
  grep -q '^done:' "$WORK/out" || { cat "$WORK/out" "$WORK/err" >&2; exit 1; }
  local compiled
  compiled=$(grep -ho 'compiled .* in [0-9.]* ms' "$WORK/err" "$WORK/out" | head -1 |
             sed -E 's/.* in ([0-9.]+) ms.*/\1/')
  # metrics.csv has cumulative env_steps and wall_s (the loop only, after compiling) per
  # iteration; the rate is taken from the end of iteration 0 to the last, so the first
  # (warm-up) iteration is left out too.
  awk -F, -v c="$compiled" 'NR == 2 { s0 = $2; w0 = $3 } NR > 2 { s = $2; w = $3 }
      END { printf "%.0f %s\n", (s - s0) / (w - w0), c }' "$WORK/run/metrics.csv"
}

gym_rate() { # env envs pre|loop -> steps/s
  # pre:  actions drawn before timing (64 arrays, cycled): `step` alone.
  # loop: each step's actions drawn in the timed loop with numpy, as rlpc's rate
  #       includes its own policy draws.
  [ "$PY" = none ] && { echo "-"; return; }
  "$PY" - "$1" "$2" "$3" <<'PYEOF'
import sys, time, warnings
import numpy as np, gymnasium as gym
warnings.simplefilter("ignore")
name, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if name == "cartpole":
    env = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
    acts = lambda rng: rng.integers(0, 2, size=n)
else:
    env = gym.make_vec("Pendulum-v1", num_envs=n, vectorization_mode="sync")
    acts = lambda rng: rng.uniform(-2.0, 2.0, size=(n, 1)).astype(np.float32)
rng = np.random.default_rng(0)
env.reset(seed=0)
pre = [acts(rng) for _ in range(64)]
steps, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < 2.0:
    for a in pre:
        env.step(a if mode == "pre" else acts(rng))
    steps += 64 * n
print(f"{steps / (time.perf_counter() - t0):.0f}")
PYEOF
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "-" || b == 0) print "-"; else printf "%.1f×", a / b }'; }
echo "| env | envs | rlpc steps/s (rewards) | rlpc steps/s (batch) | rlpc compile ms | Gymnasium steps/s | ratio | Gymnasium, actions drawn in the loop | ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for env in cartpole pendulum; do
  for c in "${CONFIGS[@]}"; do
    set -- $c
    read -r rate cms < <(rlpc_rate "$env" "$1" "$2" "$3" rewards)
    read -r full _ < <(rlpc_rate "$env" "$1" "$2" "$3" batch)
    g=$(gym_rate "$env" "$1" pre)
    gl=$(gym_rate "$env" "$1" loop)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$env" "$1" "$rate" "$full" "$cms" \
      "$g" "$(ratio "$rate" "$g")" "$gl" "$(ratio "$rate" "$gl")"
  done
done
