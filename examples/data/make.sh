#!/usr/bin/env bash
# Records the datasets the offline examples read (docs/datasets.md), with rlpc alone:
# train the source policies from examples/, then `rlpc collect` their episodes.
#
#   expert  the trained policy acting on its mode
#   medium  a policy stopped early (PPO after 5 of 150 iterations, SAC after 4,000 of
#           20,000 steps), sampling its actions; the log-probabilities are recorded
#   random  uniformly random actions (`--epsilon 1.0`)
#   play    (point mass) a goal-reaching C-learning policy with 80 % random actions
#
# cartpole_ppo_params.npz is the trained PPO run's parameters, for pretrained(…).
# A "mixed" dataset is two of these joined in the program: dataset([a, b]).
# Every step is seeded, so the same rlpc writes the same files.
#
#   examples/data/make.sh            # uses target/release/rlpc (cargo build --release first)
set -euo pipefail
cd "$(dirname "$0")/../.."
rlpc=${RLPC:-target/release/rlpc}
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
out=examples/data

$rlpc run examples/ppo_cartpole.rlp --quiet --out "$runs/ppo"
$rlpc run examples/ppo_cartpole.rlp --set iters=5 --quiet --out "$runs/ppo_early"
$rlpc collect "$runs/ppo" --episodes 10 --out $out/cartpole_expert.npz
$rlpc collect "$runs/ppo_early" --episodes 20 --stochastic --out $out/cartpole_medium.npz
$rlpc collect "$runs/ppo" --episodes 100 --epsilon 1.0 --out $out/cartpole_random.npz
cp "$runs/ppo/params.npz" $out/cartpole_ppo_params.npz   # the expert DAgger queries

$rlpc run examples/c_learning_point_mass.rlp --quiet --out "$runs/goals"
$rlpc collect "$runs/goals" --episodes 40 --epsilon 0.8 --out $out/point_mass_play.npz

$rlpc run examples/sac_pendulum.rlp --quiet --out "$runs/sac"
$rlpc run examples/sac_pendulum.rlp --set iters=4000 --quiet --out "$runs/sac_early"
$rlpc collect "$runs/sac" --policy pi --episodes 25 --out $out/pendulum_expert.npz
$rlpc collect "$runs/sac_early" --policy pi --episodes 25 --stochastic --out $out/pendulum_medium.npz
$rlpc collect "$runs/sac" --policy pi --episodes 25 --epsilon 1.0 --out $out/pendulum_random.npz
