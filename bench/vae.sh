#!/usr/bin/env bash
# VAE training throughput (issue 15), images per second, rlpc against JAX on the same
# machine: bench/vae.rlp (render 16×16 pendulum images, encode, decode a reparameterised
# draw, one Adam step on −ELBO; MLPs 256 → hidden → 8 and 4 → hidden → 256) at batch
# 32, 128 and 512 with one hidden layer of 256, and bench/vae_jax.py doing the same.
# Each rlpc figure is batch · 1,800 / (training wall of 2,000 steps − that of 200), so
# compilation and start-up are left out, as they are for JAX (compiled and warmed up
# before timing). Rounds alternate rlpc and JAX so both see the same machine load.
# Last, the FLOP bound: each step's matrix-product FLOP (bench/flops.py, from `rlpc
# explain`), the rate JAX's best figure implies, and the rate the products alone would
# need for 2x that, against the best f32 product rate JAX, numpy (and torch, when
# $PYTHON has it) reach here; then the products' least time at the best rate numpy or
# JAX reaches at each of the step's own shapes, against the step time 2x JAX allows.
#   PYTHON=/tmp/jaxvenv/bin/python bench/vae.sh [rounds]    (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
cargo build --release -q -p rlpc
rlpc=./target/release/rlpc
py=${PYTHON:-python3}
out=$(mktemp -d)
secs() {
  "$rlpc" run bench/vae.rlp "$@" --quiet --checkpoint-every 0 --out "$out/r" >/dev/null
  tail -1 "$out/r/metrics.csv" | cut -d, -f3
}
for round in $(seq "$rounds"); do
  for b in 32 128 512; do
    with=$(secs --set batch_n=$b --set iters=2000)
    without=$(secs --set batch_n=$b --set iters=200)
    echo "rlpc batch $b hidden 256: $(echo "$b * 1800 / ($with - $without)" | bc -l | xargs printf '%.0f') images/s"
    "$py" bench/vae_jax.py $b 256 2000 | grep -v '^jax [0-9]' || echo "(jax not installed for $py)"
  done
done | tee "$out/rates"
rates=""
for lib in jax numpy torch; do
  r=$(python3 bench/flops.py --rate "$py" $lib 2>/dev/null) && rates="$rates $lib $r"
done
# The Adam step of the VAE's parameters (encoder 256·256 + 256 + 256·8 + 8, decoder
# 4·256 + 256 + 256·256 + 256) at JAX's own rate, inside one jitted loop.
params=134920
adam=$(JAX_PLATFORMS=cpu "$py" bench/adam_floor.py $params 2>/dev/null || echo 0)
if [ -n "$rates" ]; then
  best=$(echo "$rates" | awk '{m = 0; for (i = 2; i <= NF; i += 2) if ($i > m) m = $i; print m}')
  echo "best f32 product rate (GFLOP/s):$rates"
  for b in 32 128 512; do
    flop=$(python3 bench/flops.py bench/vae.rlp --set batch_n=$b)
    jax=$(grep "^jax .* batch $b " "$out/rates" | sed -E 's/.*: ([0-9]+) images.*/\1/' | sort -n | tail -1)
    echo "$b $flop $jax $best" | awk '{f = $2 / $1; g = f * $3 / 1e3;
      printf "batch %d: %.0f kFLOP of products per image; JAX best %d images/s = %.0f GFLOP/s; 2x JAX needs %.0f GFLOP/s = %.0f %% of the best rate\n", $1, f * 1e3, $3, g, 2 * g, 200 * g / $4}'
    # The same bound shape by shape: each of the step's products at the best rate numpy
    # or JAX (its loop inside one jitted call, so no dispatch) reaches at that very shape.
    floor=$(python3 bench/flops.py bench/vae.rlp --set batch_n=$b --bound "$py" jax-loop numpy |
            tail -1 | sed -E 's/.*: ([0-9.]+) us.*/\1/')
    echo "$b $floor $jax $adam" | awk '{budget = $1 / (2 * $3) * 1e6;
      printf "batch %d: the products alone take >= %.0f us a step at the best per-shape rates; 2x JAX allows %.0f us for the whole step (%.0f %%); with Adam (%.1f us at JAX'"'"'s rate) %.0f %%\n", $1, $2, budget, 100 * $2 / budget, $4, 100 * ($2 + $4) / budget}'
  done
fi
"$py" -c 'import jax, jaxlib, numpy; print("jax", jax.__version__, "jaxlib", jaxlib.__version__, "numpy", numpy.__version__)' || true
rm -rf "$out"
