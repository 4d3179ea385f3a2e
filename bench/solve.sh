#!/usr/bin/env bash
# Time to solve: for each seed, the first iteration whose logged `return` reaches the
# threshold — its env steps, and wall seconds from a cold process (compile included:
# the process's own start-to-solve time, measured by the training loop plus compile).
#   bench/solve.sh EXAMPLE THRESHOLD [seeds...]
set -euo pipefail
cd "$(dirname "$0")/.."
example=${1:?example .rlp}
threshold=${2:?threshold}
shift 2
seeds=${*:-0 1 2}
cargo build --release -q -p rlpc
printf '%-5s %12s %12s %14s %12s\n' seed compile_ms solved_at env_steps wall_s
for s in $seeds; do
  out=$(mktemp -d)
  start=$(date +%s.%N)
  target/release/rlpc run "$example" --seed "$s" --out "$out" --checkpoint-every 0 >/dev/null 2>"$out/stderr"
  compile=$(grep -o 'in [0-9.]* ms' "$out/stderr" | head -1 | tr -dc '0-9.')
  awk -F, -v t="$threshold" -v c="$compile" -v s="$s" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == "return") col = i; next }
    $col >= t { printf "%-5s %12.1f %12d %14d %12.2f\n", s, c, $1, $2, $3 + c / 1000; found = 1; exit }
    END { if (!found) printf "%-5s %12.1f %12s %14s %12s\n", s, c, "never", "-", "-" }
  ' "$out/metrics.csv"
  rm -rf "$out"
done
