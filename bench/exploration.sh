#!/usr/bin/env bash
# The exploration table of docs/benchmarks.md: every exploration program on the long
# chain of 20 cells (std.env.chain, 4 chains stepped together), seeds 0-4. For each run:
# env steps to the first success (the first row of metrics.csv whose `reached` is 1),
# the success of each chain's last episode at the end (`success`), the distinct cells
# visited (`cells`) and the wall time; then a line per method: seeds that reached the
# end, mean final success, mean cells.
#   bench/exploration.sh [out_dir]   (default runs/exploration)
# SEEDS="0 1" METHODS="dqn-count dqn-pseudo" bench/exploration.sh runs a subset.
# Tabular Q-learning (tab-*, 5,000 iterations = 20,000 env steps) and DQN (dqn-*, 10,000
# iterations = 40,000 env steps); each run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/exploration}
seeds=${SEEDS:-0 1 2 3 4}
cargo build --release -q -p rlpc
bin=target/release/rlpc
mkdir -p "$out"
# name : program : --set overrides (comma-separated)
all="
tab-count:count_bonus_chain:
tab-rnd:rnd_chain:
tab-egreedy:count_bonus_chain:beta=0.0,epsilon=0.1
tab-count-from0:count_bonus_chain:optimism=0.0
tab-optimism:count_bonus_chain:beta=0.0,optimism=0.01
dqn-egreedy:count_bonus_dqn_chain:beta=0.0
dqn-count:count_bonus_dqn_chain:
dqn-pseudo:pseudo_count_dqn_chain:
dqn-boot:bootstrapped_dqn_chain:
dqn-boot-noprior:bootstrapped_dqn_chain:prior_scale=0.0
dqn-disagree:disagreement_dqn_chain:
dqn-disagree-nokappa:disagreement_dqn_chain:kappa=0.0
dqn-disagree-noprior:disagreement_dqn_chain:pscale=0.0
dqn-disagree-nobonus:disagreement_dqn_chain:beta=0.0
dqn-ex2:ex2_dqn_chain:
dqn-ex2-egreedy:ex2_dqn_chain:beta=0.0,kappa=0.0
dqn-ex2-nokappa:ex2_dqn_chain:kappa=0.0
dqn-ex2-nobonus:ex2_dqn_chain:beta=0.0
dqn-ex2-noprior:ex2_dqn_chain:prior=0.0
"
want=${METHODS:-}
printf '%-16s %4s %12s %8s %6s %8s\n' method seed first_succ success cells wall_s
summary=""
for m in $all; do
  IFS=: read -r name prog sets <<<"$m"
  if [ -n "$want" ] && [[ " $want " != *" $name "* ]]; then
    continue
  fi
  args=()
  [ -n "$sets" ] && for s in ${sets//,/ }; do args+=(--set "$s"); done
  solved=0 succ_sum=0 cells_sum=0 n=0
  for seed in $seeds; do
    dir=$out/$name-$seed
    res=$($bin run "examples/$prog.rlp" --seed "$seed" ${args[@]+"${args[@]}"} --out "$dir" \
          --quiet --checkpoint-every 0 2>/dev/null)
    wall=$(echo "$res" | sed -nE 's/^done:.* in ([0-9.]+) s.*/\1/p')
    csv=$dir/metrics.csv
    col() { head -1 "$csv" | tr ',' '\n' | grep -n "^$1\$" | cut -d: -f1; }
    r=$(col reached) s=$(col success) c=$(col cells) e=$(col env_steps)
    first=$(awk -F, -v r="$r" -v e="$e" 'NR > 1 && $r >= 1 { print $e; exit }' "$csv")
    last=$(tail -1 "$csv")
    succ=$(echo "$last" | cut -d, -f"$s") cells=$(echo "$last" | cut -d, -f"$c")
    printf '%-16s %4s %12s %8.2f %6.0f %8s\n' "$name" "$seed" "${first:-never}" "$succ" "$cells" "$wall"
    [ -n "$first" ] && solved=$((solved + 1))
    succ_sum=$(awk -v a="$succ_sum" -v b="$succ" 'BEGIN { print a + b }')
    cells_sum=$(awk -v a="$cells_sum" -v b="$cells" 'BEGIN { print a + b }')
    n=$((n + 1))
  done
  summary+=$(printf '%-16s reached the end on %d/%d seeds, mean final success %.2f, mean cells %.1f' \
    "$name" "$solved" "$n" "$(awk -v a="$succ_sum" -v n="$n" 'BEGIN { print a / n }')" \
    "$(awk -v a="$cells_sum" -v n="$n" 'BEGIN { print a / n }')")$'\n'
done
echo
printf '%s' "$summary"
