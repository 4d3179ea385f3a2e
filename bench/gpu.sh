#!/usr/bin/env bash
# The CUDA backend on a machine with an NVIDIA GPU, in one go (a few minutes): the CUDA
# test subset on the device, then the figures issue 16 asks for, all written to one file.
#
#   bench/gpu.sh [OUT]        (default OUT: bench/gpu-results.md)
#
# 1. Tests: the JIT's differential suites rerun on the GPU against the interpreter
#    (RLPC_CUDA_TEST_TARGET=gpu; floats within a few ulps where libdevice rounds
#    differently from glibc), and the whole-program tests (PPO on the GPU vs the JIT).
# 2. CartPole env steps/s at 1,024 / 65,536 / 1,048,576 environments: a uniform-random
#    policy written in .rlp, `rollout` of 32 steps per iteration, steps/s from the run's
#    metrics.csv (first iteration and compile excluded). The JIT on this machine's CPU is
#    measured in the same run as the baseline.
# 3. GAE over 1,024 steps × 65,536 environments: the stage's wall time per iteration and,
#    from RLPC_CUDA_PROFILE's per-kernel times, the GAE kernel's effective bandwidth
#    (reads r, v, next_v, terminated, truncated; writes the advantages) as a fraction of
#    the device's peak (GPU_PEAK_GBS, else a table of known devices).
# 4. PPO on CartPole with 4,096 environments: time to a return of 475 (bench/solve.sh's
#    rule), GPU and JIT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/gpu-results.md}
RLPC=target/release/rlpc
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cargo build --release -q -p rlpc || exit 1

{
echo "# bench/gpu.sh — $(date -u +%Y-%m-%dT%H:%MZ)"
echo
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/device: /'
echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo
echo "## Tests on the device"
echo '```'
RLPC_CUDA_TEST_TARGET=gpu timeout 300 cargo test --release -q -p rlp-cuda --test cpu 2>&1 | grep -E "test result|FAILED|panicked" | head -20
timeout 200 cargo test --release -q -p rlpc --test cuda 2>&1 | grep -E "test result|FAILED|panicked" | head -20
echo '```'
} > "$OUT"

rate() { # backend envs steps iterations -> steps/s over iterations 2..
  local backend=$1 n=$2 t=$3 it=$4
  cat > "$WORK/env.rlp" <<RLP
use std.env.cartpole
env = cartpole(envs: $n, seed: 1)
policy = obs -> { sample: () -> i32(floor(uniform([$n], low: 0.0, high: 2.0))) }
train iterations: $it {
  sample batch = rollout(env, policy, steps: $t)
  log r = batch.reward[0, 0]
}
RLP
  rm -rf "$WORK/run"
  timeout 300 "$RLPC" run --quiet --backend "$backend" --out "$WORK/run" "$WORK/env.rlp" \
    >/dev/null 2>"$WORK/err" || { echo "failed: $(tail -1 "$WORK/err")"; return; }
  awk -F, 'NR == 2 { s0 = $2; w0 = $3 } NR > 2 { s = $2; w = $3 }
           END { if (w > w0) printf "%.3g", (s - s0) / (w - w0); else print "-" }' "$WORK/run/metrics.csv"
}

{
echo
echo "## CartPole env steps/s (random policy, 32-step rollouts)"
echo
echo "| envs | cuda | jit (this CPU) | ratio |"
echo "|---:|---:|---:|---:|"
for cfg in "1024 40" "65536 20" "1048576 10"; do
  set -- $cfg
  g=$(rate cuda "$1" 32 "$2"); c=$(rate jit "$1" 32 "$2")
  r=$(awk -v a="$g" -v b="$c" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.1fx", a / b; else print "-" }')
  echo "| $1 | $g | $c | $r |"
done
} >> "$OUT"

# GAE: state tensors in HBM, the estimator from std.estimators each iteration.
cat > "$WORK/gae.rlp" <<'RLP'
use std.estimators.{gae}
r     = uniform([1024, 65536])
v     = uniform([1024, 65536])
nv    = uniform([1024, 65536])
term  = uniform([1024, 65536]) < 0.01
trunc = uniform([1024, 65536]) < 0.001
train iterations: 12 {
  fit adv = gae(r, v, nv, term, trunc, gamma: 0.99, lambda: 0.95)
  log a = adv[0, 0]
}
RLP
peak=${GPU_PEAK_GBS:-}
if [ -z "$peak" ]; then
  case "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)" in
    *H200*) peak=4800 ;; *H100*SXM*|*H100\ 80GB\ HBM3*) peak=3350 ;; *H100*) peak=2000 ;;
    *A100*80GB*) peak=2039 ;; *A100*) peak=1555 ;; *) peak=0 ;;
  esac
fi
{
echo
echo "## GAE, 1,024 × 65,536"
echo
rm -rf "$WORK/gae"
if RLPC_CUDA_PROFILE=1 timeout 300 "$RLPC" run --quiet --backend cuda --out "$WORK/gae" "$WORK/gae.rlp" \
    >/dev/null 2>"$WORK/gae.err"; then
  awk -F, 'NR == 2 { w0 = $3 } NR > 2 { w = $3; n++ } END { printf "stage wall per iteration (uploads included): %.2f ms\n", 1000 * (w - w0) / n }' "$WORK/gae/metrics.csv"
  # The stage's kernels (delta, cut, the reverse scan) per call, summed; the useful
  # traffic is the inputs read once and the advantages written once: 4+4+4+1+1+4 B per
  # element (the fused kernels move more: the fraction is of the minimum).
  grep rlpc-cuda-profile "$WORK/gae.err" | awk -v peak="$peak" '
    $3 >= 12 { t += $4 / $3 }
    END { bytes = 1024 * 65536 * 18; gbs = bytes / t / 1e9;
          printf "GAE kernels: %.3f ms per iteration, %.0f GB/s of useful traffic", 1000 * t, gbs;
          if (peak > 0) printf " = %.0f%% of %d GB/s peak", 100 * gbs / peak, peak; print "" }'
  echo
  echo '```'
  grep rlpc-cuda-profile "$WORK/gae.err"
  echo '```'
else
  echo "failed: $(tail -3 "$WORK/gae.err")"
fi
} >> "$OUT"

{
echo
echo "## PPO, CartPole, 4,096 environments: time to return 475"
echo
sed -e 's/cartpole(envs: 8)/cartpole(envs: 4096)/' -e 's/steps: 128/steps: 16/' \
    -e 's/minibatches(data, 4)/minibatches(data, 8)/' examples/ppo_cartpole.rlp > "$WORK/ppo4096.rlp"
for backend in cuda jit; do
  rm -rf "$WORK/ppo"
  start=$(date +%s.%N)
  if timeout 400 "$RLPC" run --quiet --backend "$backend" --set iters=60 --out "$WORK/ppo" \
      "$WORK/ppo4096.rlp" >/dev/null 2>"$WORK/ppo.err"; then
    awk -F, -v b="$backend" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "return") c = i; next }
      $c >= 475 { printf "%s: solved at iteration %d, %d env steps, %.2f s of training\n", b, $1, $2, $3; f = 1; exit }
      END { if (!f) printf "%s: not solved in %d iterations (last return %s)\n", b, NR - 1, $c }' "$WORK/ppo/metrics.csv"
  else
    echo "$backend: failed: $(tail -1 "$WORK/ppo.err")"
  fi
done
} >> "$OUT"
cat "$OUT"
