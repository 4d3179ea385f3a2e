#!/usr/bin/env bash
# Off-policy update rates at equal sizes (issue 12/18): DQN with a [256, 256] Q-network at
# batch 64 and 256 (bench/dqn_updates.rlp), SAC with [256, 256] networks at batch 256
# (examples/sac_pendulum.rlp with those sizes), in rlpc; then the same updates in
# PyTorch and JAX (bench/offpolicy_peers.py) when PYTHON has them, and the best GEMM rate
# for the FLOP-bound fraction. Each rlpc figure is (updates) / (time of the run with
# them - time of the same run without them), so environment steps and compilation are
# left out, as they are for the peers.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p rlpc
rlpc=./target/release/rlpc
out=$(mktemp -d)
# The training wall time of a run: metrics.csv's last `wall_s`.
secs() {
  "$rlpc" run "$@" --quiet --checkpoint-every 0 --out "$out/r" >/dev/null
  tail -1 "$out/r/metrics.csv" | cut -d, -f3
}
for rep in 1 2 3; do
  for b in 64 256; do
    with=$(secs bench/dqn_updates.rlp --set batch_n=$b --set updates=100)
    without=$(secs bench/dqn_updates.rlp --set batch_n=$b --set updates=0)
    echo "rlpc dqn batch $b: $(echo "2000 / ($with - $without)" | bc -l | xargs printf '%.0f') updates/s"
  done
  sac="examples/sac_pendulum.rlp --set hidden=[256,256] --set batch_n=256 --set warmup=100"
  with=$(secs $sac --set iters=1100)
  without=$(secs $sac --set iters=100)
  echo "rlpc sac batch 256: $(echo "1000 / ($with - $without)" | bc -l | xargs printf '%.0f') updates/s"
done
rm -rf "$out"
py=${PYTHON:-python3}
for peer in torch jax gemm; do
  "$py" bench/offpolicy_peers.py $peer || echo "($peer not installed for $py)"
done
