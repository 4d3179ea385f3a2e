#!/usr/bin/env bash
# SAC on Pendulum from the true state, from two rendered 16×16 frames (raw pixels) and
# from a VAE's latent means of those frames (`examples/vae_representation_pendulum.rlp`,
# `--set obs_mode=…`), seeds 0 1 2 by default; prints, per run, the wall time, the
# environment steps at which the greedy evaluation (10 episodes, every 1,000 steps)
# first reaches -200, and the mean of its last five evaluations; draws each mode's greedy
# curve, the mean over the seeds, in one PNG (docs/bench/vae_representation_pendulum.png).
#   bench/vae_representation.sh [out_dir] [seeds…]    (default runs/vae_representation, 0 1 2)
# ITERS=3000 shortens the runs (a quick check of the script; the PNG then goes to out_dir);
# REUSE=1 keeps the runs already in out_dir and only redoes the table and the PNG.
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
    if [ -z "${REUSE:-}" ] || [ ! -f "$dir/metrics.csv" ]; then
      $bin run examples/vae_representation_pendulum.rlp --seed "$s" --quiet \
        --set obs_mode="\"$mode\"" --set iters="$iters" --out "$dir" --checkpoint-every 0 \
        >/dev/null 2>&1
    fi
    wall=$(tail -1 "$dir/metrics.csv" | cut -d, -f3 | xargs printf '%.1f')
    col=$(head -1 "$dir/metrics.csv" | tr ',' '\n' | grep -n '^greedy$' | cut -d: -f1)
    first=$(awk -F, -v c="$col" 'NR > 1 && $1 % 1000 == 0 && $c >= -200 { print $1; exit }' "$dir/metrics.csv")
    last=$(awk -F, -v c="$col" 'NR > 1 && $1 % 1000 == 0 { v[n++] = $c }
           END { s = 0; k = 0; for (i = n - 5; i < n; i++) if (i >= 0) { s += v[i]; k++ }; printf "%.1f", s / k }' "$dir/metrics.csv")
    printf '%-8s %5s %8s %16s %14s\n' "$mode" "$s" "$wall" "${first:-never}" "$last"
  done
  # The mean over seeds of each row's greedy return, as a metrics.csv of its own.
  mkdir -p "$out/$mode-mean"
  files=()
  for s in $seeds; do files+=("$out/$mode-$s/metrics.csv"); done
  col=$(head -1 "${files[0]}" | tr ',' '\n' | grep -n '^greedy$' | cut -d: -f1)
  paste -d, "${files[@]}" | awk -F, -v c="$col" -v k="${#files[@]}" -v w="$(head -1 "${files[0]}" | tr ',' '\n' | wc -l)" '
    NR == 1 { print "iteration,env_steps,wall_s,greedy"; next }
    { s = 0; for (i = 0; i < k; i++) s += $(i * w + c); print $1 "," $2 "," $3 "," s / k }' \
    > "$out/$mode-mean/metrics.csv"
  curves+=("$out/$mode-mean:greedy=$mode")
done
png=docs/bench/vae_representation_pendulum.png
[ "$iters" = 20000 ] || png=$out/vae_representation_pendulum.png
$bin plot --out "$png" --x iterations --x-label "environment steps (training)" \
  --y-label "greedy return (10 episodes), mean of seeds $(echo $seeds | tr " " "/")" \
  --title "SAC on Pendulum: true state vs two 16×16 frames vs their VAE latents" \
  "${curves[@]}"
