#!/usr/bin/env bash
# Every training program in examples/, seeds 0 1 2 (or those given): the last
# iteration's mean episode return, the env steps of the first iteration at or above the
# task's threshold, and the wall time of the training loop. Prints a markdown table
# (the "Every program" table of docs/benchmarks.md).
#   bench/programs.sh [seeds...]
# The Gymnasium-backed program needs RLPC_PYTHON (a python with gymnasium 1.4.0);
# without it that row is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${*:-0 1 2}
cargo build --release -q -p rlpc
bin=target/release/rlpc
# name | settings | threshold
programs=(
  "reinforce_cartpole||195"
  "reinforce_variants_cartpole||195"
  "reinforce_optimal_baseline_cartpole||195"
  "offpolicy_pg_cartpole||195"
  "actor_critic_cartpole||475"
  "actor_critic_cartpole|td=true plr=3e-4 vsteps=20 iters=700|475"
  "online_actor_critic_cartpole||475"
  "a2c_cartpole||475"
  "ppo_cartpole||475"
  "npg_cartpole||475"
  "ppo_pendulum||-250"
)
if [ -n "${RLPC_PYTHON:-}" ]; then programs+=("ppo_gym_cartpole||475"); fi
echo "| program | last | to threshold (env steps) | wall (s) |"
echo "| --- | --- | --- | --- |"
for p in "${programs[@]}"; do
  IFS='|' read -r name settings threshold <<<"$p"
  sets=()
  for kv in $settings; do sets+=(--set "$kv"); done
  lasts=(); reach=(); walls=()
  for s in $seeds; do
    out=$(mktemp -d)
    "$bin" run "examples/$name.rlp" --quiet --seed "$s" "${sets[@]}" --out "$out" \
      --checkpoint-every 0 >/dev/null 2>"$out/stderr" || { cat "$out/stderr" >&2; exit 1; }
    read -r last at wall < <(awk -F, -v t="$threshold" '
      NR == 1 { for (i = 1; i <= NF; i++) if ($i == "return") col = i; next }
      # A return of exactly 0 is the logged value before any episode has finished.
      { last = $col; wall = $3; if (at == "" && $col != 0 && $col >= t) at = $2 }
      END { printf "%.0f %s %.1f\n", last, (at == "" ? "—" : sprintf("%.0fk", at / 1000)), wall }
    ' "$out/metrics.csv")
    lasts+=("$last"); reach+=("$at"); walls+=("$wall")
    rm -rf "$out"
  done
  label=$name; [ -n "$settings" ] && label="$name \`$settings\`"
  join() { local IFS=/; echo "$*" | sed 's#/# / #g'; }
  echo "| $label | $(join "${lasts[@]}") | $(join "${reach[@]}") | $(join "${walls[@]}") |"
done
