#!/usr/bin/env bash
# Cumulative regret of UCB1, ε-greedy (fixed ε = 0.1), Thompson sampling and
# information-directed sampling on the same Bernoulli arms (0.1, 0.5, 0.55, 0.9), each
# averaged over 256 independent bandits for 10,000 pulls, with the Lai–Robbins lower
# bound logged by the Thompson program; one PNG with a logarithmic time axis, and a table
# of the regret at T = 100, 1000, 10000 with each run's wall time.
#   bench/bandits.sh [out_dir]    (default runs/bandits; the PNG goes to docs/bench/)
# PULLS=1000 bench/bandits.sh shortens the runs (a quick check of the script).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/bandits}
pulls=${PULLS:-10000}
cargo build --release -q -p rlpc
bin=target/release/rlpc
mkdir -p "$out"
methods="ucb:bandit_ucb epsilon:bandit_epsilon_fixed thompson:bandit_thompson ids:bandit_ids"
printf '%-12s %10s %10s %10s %10s\n' method T=100 T=1000 T=10000 wall_s
for m in $methods; do
  name=${m%%:*} prog=${m#*:}
  res=$($bin run "examples/$prog.rlp" --set pulls="$pulls" --out "$out/$name" --quiet \
        --checkpoint-every 0 2>/dev/null)
  wall=$(echo "$res" | sed -nE 's/^done:.* in ([0-9.]+) s.*/\1/p')
  col=$(head -1 "$out/$name/metrics.csv" | tr ',' '\n' | grep -n '^cumulative_regret$' | cut -d: -f1)
  at() { awk -F, -v c="$col" -v i="$1" 'NR > 1 && $1 == i { printf "%.2f", $c }' "$out/$name/metrics.csv"; }
  printf '%-12s %10s %10s %10s %10s\n' "$name" "$(at 99)" "$(at 999)" "$(at 9999)" "$wall"
done
col=$(head -1 "$out/thompson/metrics.csv" | tr ',' '\n' | grep -n '^lai_robbins$' | cut -d: -f1)
at() { awk -F, -v c="$col" -v i="$1" 'NR > 1 && $1 == i { printf "%.2f", $c }' "$out/thompson/metrics.csv"; }
printf '%-12s %10s %10s %10s\n' lai-robbins "$(at 99)" "$(at 999)" "$(at 9999)"
png=docs/bench/bandits_regret.png
[ "$pulls" = 10000 ] || png=$out/bandits_regret.png
$bin plot --out "$png" --x iterations --log-x --log-y --x-label "pulls per bandit" \
  --title "Cumulative regret, Bernoulli arms 0.1/0.5/0.55/0.9, mean of 256 bandits" \
  --y-label "cumulative regret" --dashed "Lai–Robbins bound" \
  "$out/ucb:cumulative_regret=UCB1" \
  "$out/epsilon:cumulative_regret=ε-greedy, ε = 0.1" \
  "$out/thompson:cumulative_regret=Thompson (Beta)" \
  "$out/ids:cumulative_regret=IDS (variance, 32 draws)" \
  "$out/thompson:lai_robbins=Lai–Robbins bound"
