#!/usr/bin/env bash
# Wall time, compile time and final return of an example for several seeds, on the JIT
# and (as the baseline measured in the same run) on the reference interpreter.
#   bench/examples.sh [example.rlp] [seeds...]
set -euo pipefail
cd "$(dirname "$0")/.."
example=${1:-examples/reinforce_cartpole.rlp}
shift || true
seeds=${*:-0 1 2}
cargo build --release -q -p rlpc
bin=target/release/rlpc
printf '%-8s %-5s %10s %12s %10s %s\n' backend seed wall_s compile_ms env_steps last
for backend in jit interp; do
  for s in $seeds; do
    out=$(mktemp -d)
    res=$($bin run "$example" --seed "$s" --backend "$backend" --out "$out" 2>"$out/stderr" | head -1)
    log=$(grep compiled "$out/stderr" || true)
    compile=$(echo "$log" | sed -E 's/.* in ([0-9.]+) ms.*/\1/')
    steps=$(echo "$res" | sed -E 's/.*iterations, ([0-9]+) env steps.*/\1/')
    wall=$(echo "$res" | sed -E 's/.* in ([0-9.]+) s;.*/\1/')
    last=$(echo "$res" | sed -E 's/.*last: //')
    printf '%-8s %-5s %10s %12s %10s %s\n' "$backend" "$s" "$wall" "$compile" "$steps" "$last"
    rm -rf "$out"
  done
done
