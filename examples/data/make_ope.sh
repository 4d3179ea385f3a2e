#!/bin/sh
# Regenerates the logged episodes of the off-policy evaluation examples with rlpc:
#   ope_gridworld.npz — 200 episodes of the REINFORCE policy of ope_gridworld_behaviour.rlp
#   (seed 0), actions sampled and their log-probabilities recorded, for ope_gridworld.rlp.
# Usage: examples/data/make_ope.sh   (RLPC=path/to/rlpc to use another build)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
rlpc=${RLPC:-$here/../../target/release/rlpc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$rlpc" run "$here/../ope_gridworld_behaviour.rlp" --seed 0 --out "$work/behaviour" --quiet
"$rlpc" collect "$work/behaviour" --episodes 200 --stochastic --out "$here/ope_gridworld.npz"
