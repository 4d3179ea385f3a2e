#!/usr/bin/env bash
# SAC on Pendulum from the true state, from two rendered 16×16 frames (raw pixels) and
# from a VAE's latent means of those frames (`examples/vae_representation_pendulum.rlp`,
# `--set obs_mode=…`), seeds 0 1 2 by default; prints, per run, the wall time, the
# environment steps at which the greedy evaluation (10 episodes, every 1,000 steps)
# first reaches -200, and the mean of its last five evaluations; draws every greedy
# curve in one PNG (docs/bench/vae_representation_pendulum.png).
#   bench/vae_representation.sh [out_dir] [seeds…]    (default runs/vae_representation, 0 1 2)
# ITERS=3000 shortens the runs (a quick check of the script; the PNG then goes to out_dir).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/vae_representation}
shift || true
seeds=${*:-0 1 2}
iters=${ITERS:-20000}
cargo build --release -q -p rlpc
bin=target/release/rlpc
mkdir -p "$out"
printf '%-8s %5s %8s %16s %14s\n' mode seed wall_s 'first>=-200' 'last5 greedy'
curves=()
for mode in state pixels latent; do
  for s in $seeds; do
    dir="$out/$mode-$s"
    res=$($bin run examples/vae_representation_pendulum.rlp --seed "$s" --quiet \
          --set obs_mode="\"$mode\"" --set iters="$iters" --out "$dir" --checkpoint-every 0 2>/dev/null)
    wall=$(echo "$res" | sed -nE 's/^done:.* in ([0-9.]+) s.*/\1/p')
    col=$(head -1 "$dir/metrics.csv" | tr ',' '\n' | grep -n '^greedy$' | cut -d: -f1)
    first=$(awk -F, -v c="$col" 'NR > 1 && $1 % 1000 == 0 && $c >= -200 { print $1; exit }' "$dir/metrics.csv")
    last=$(awk -F, -v c="$col" 'NR > 1 && $1 % 1000 == 0 { v[n++] = $c }
           END { s = 0; k = 0; for (i = n - 5; i < n; i++) if (i >= 0) { s += v[i]; k++ }; printf "%.1f", s / k }' "$dir/metrics.csv")
    printf '%-8s %5s %8s %16s %14s\n' "$mode" "$s" "$wall" "${first:-never}" "$last"
    curves+=("$dir:greedy=$mode, seed $s")
  done
done
png=docs/bench/vae_representation_pendulum.png
[ "$iters" = 20000 ] || png=$out/vae_representation_pendulum.png
$bin plot --out "$png" --x iterations --x-label "environment steps (training)" \
  --y-label "greedy return (10 episodes)" \
  --title "SAC on Pendulum: true state vs two 16×16 frames vs their VAE latents" \
  "${curves[@]}"
