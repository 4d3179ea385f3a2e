"""Offline RL on the shipped datasets (issue 14): normalised scores and update speed.

For each environment (CartPole, Pendulum), dataset (expert, medium, random, and mixed =
expert + random joined), algorithm (BC, AWAC, IQL, CQL: the examples/*_{env}.rlp
programs; `--algos mopo,combo` adds the model-based ones, Pendulum only) and seed,
trains the rlpc program for --updates gradient updates and reads its last evaluation
(the greedy policy's mean return over 10 episodes) from metrics.csv. The score is
normalised as 100 · (score − random) / (expert − random), with the dataset returns of
docs/datasets.md as references. Wall time is the whole training loop (metrics.csv's
last wall_s: updates and evaluation episodes).

With --peers PYTHON (a Python with d3rlpy, see bench/offline_d3rlpy.py), the same
datasets, network sizes, batch size and update counts go through d3rlpy in the same
run, for the datasets and seeds named by --peer-datasets and --peer-seeds, with as many
torch threads as rlpc has cores; its time is of the updates alone (minibatch sampling
included), rlpc's of the whole loop (updates and evaluation episodes). It then prints,
for each peer row, the FLOP of the update's matrix products (from `rlpc explain`) and
the rate they would need to run at for 5x d3rlpy's speed, against the best f32
matrix-product rate torch reaches on this machine in the same run.

    python3 bench/offline.py --updates 5000                       # rlpc only
    python3 bench/offline.py --updates 5000 --peers /tmp/peers/bin/python \
        --peer-datasets medium --peer-seeds 0

Standard library only for the rlpc part; the peer part writes the mixed dataset with
numpy (from the peer Python).
"""
import argparse
import csv
import json
import os
import subprocess
import tempfile

import flops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RLPC = os.path.join(ROOT, "target", "release", "rlpc")

# Reference returns: the expert and random datasets' own (docs/datasets.md).
ENVS = {
    "cartpole": {
        "gym": "CartPole-v1",
        "random": 20.93,
        "expert": 500.0,
        # algo -> (program, hidden sizes, learning rate) as the program has them
        "algos": {
            "bc": ("bc_cartpole.rlp", "64,64", 1e-3),
            "awac": ("awac_cartpole.rlp", "256,256", 3e-4),
            "iql": ("iql_cartpole.rlp", "256,256", 3e-4),
            "cql": ("cql_cartpole.rlp", "256,256", 3e-4),
        },
    },
    "pendulum": {
        "gym": "Pendulum-v1",
        "random": -1157.84,
        "expert": -173.85,
        "algos": {
            "bc": ("bc_pendulum.rlp", "256,256", 1e-3),
            "awac": ("awac_pendulum.rlp", "256,256", 3e-4),
            "iql": ("iql_pendulum.rlp", "256,256", 3e-4),
            "cql": ("cql_pendulum.rlp", "256,256", 3e-4),
            # model-based (not in the default --algos; d3rlpy has no MOPO or COMBO peer)
            "mopo": ("mopo_pendulum.rlp", "64,64", 1e-3),
            "combo": ("combo_pendulum.rlp", "64,64", 1e-3),
        },
        # Per algorithm: --set overrides for rlpc, and the same setting for d3rlpy.
        # CQL's log-sum-exp from 4 uniform and 4 policy actions per state, not 10:
        # the 10 of the paper make each update 5x the cost of IQL's on both sides.
        "extra": {"cql": (["samples=4"], ["--cql-samples", "4"])},
    },
}
DATASETS = {
    "expert": ["expert"],
    "medium": ["medium"],
    "random": ["random"],
    "mixed": ["expert", "random"],
}


def files(env, dataset):
    return [f"data/{env}_{part}.npz" for part in DATASETS[dataset]]


def normalised(score, env):
    e = ENVS[env]
    return 100.0 * (score - e["random"]) / (e["expert"] - e["random"])


def run_rlpc(env, algo, dataset, seed, updates, out):
    program = ENVS[env]["algos"][algo][0]
    data = "[" + ", ".join(f'"{f}"' for f in files(env, dataset)) + "]"
    cmd = [RLPC, "run", os.path.join(ROOT, "examples", program), "--quiet",
           "--checkpoint-every", "0", "--seed", str(seed), "--out", out,
           "--set", f"iters={updates}", "--set", f"data={data}"]
    for x in ENVS[env].get("extra", {}).get(algo, ([], []))[0]:
        cmd += ["--set", x]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["return"]), float(rows[-1]["wall_s"])


def join_npz(python, paths, out):
    code = ("import numpy as np, sys\n"
            "parts = [np.load(p) for p in sys.argv[2:]]\n"
            "np.savez(sys.argv[1], **{k: np.concatenate([p[k] for p in parts]) "
            "for k in parts[0].files})\n")
    subprocess.run([python, "-c", code, out, *paths], check=True)


def run_peer(python, env, algo, dataset, seed, updates, tmp):
    e = ENVS[env]
    _, hidden, lr = e["algos"][algo]
    paths = [os.path.join(ROOT, "examples", f) for f in files(env, dataset)]
    if len(paths) > 1:
        joined = os.path.join(tmp, f"{env}_{dataset}.npz")
        join_npz(python, paths, joined)
        paths = [joined]
    cmd = [python, os.path.join(ROOT, "bench", "offline_d3rlpy.py"), "--dataset", paths[0],
           "--env", e["gym"], "--algo", algo, "--updates", str(updates), "--seed", str(seed),
           "--hidden", hidden, "--lr", str(lr), "--random-return", str(e["random"]),
           "--expert-return", str(e["expert"]), "--threads", str(os.cpu_count())]
    cmd += e.get("extra", {}).get(algo, ([], []))[1]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    line = [l for l in done.stdout.splitlines() if l.startswith("{")]
    return json.loads(line[0]) if line else None


def flop_per_update(env, algo):
    """The matrix-product FLOP of one update of the program (bench/flops.py)."""
    program = ENVS[env]["algos"][algo][0]
    sets = ENVS[env].get("extra", {}).get(algo, ([], []))[0]
    return flops.flop_per_update(os.path.join(ROOT, "examples", program), sets)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--updates", type=int, default=5000)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--envs", default="cartpole,pendulum")
    p.add_argument("--algos", default="bc,awac,iql,cql")
    p.add_argument("--datasets", default="expert,medium,random,mixed")
    p.add_argument("--peers", default=None, help="a Python with d3rlpy")
    p.add_argument("--peer-datasets", default="medium")
    p.add_argument("--peer-seeds", default="0")
    p.add_argument("--peer-algos", default="bc,awac,iql,cql")
    a = p.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    tmp = tempfile.mkdtemp(prefix="rlpc-offline-")
    print(f"rlpc, {a.updates} updates, seeds {a.seeds}: normalised score mean ± std "
          f"(last evaluation, 10 episodes), wall time per run")
    rlpc_time = {}
    for env in a.envs.split(","):
        print(f"\n{env}: random {ENVS[env]['random']}, expert {ENVS[env]['expert']}")
        print(f"  {'algo':<6}" + "".join(f"{d:>24}" for d in a.datasets.split(",")))
        for algo in a.algos.split(","):
            if algo not in ENVS[env]["algos"]:
                continue
            cells = []
            for dataset in a.datasets.split(","):
                scores, walls = [], []
                for seed in seeds:
                    ret, wall = run_rlpc(env, algo, dataset, seed, a.updates,
                                         os.path.join(tmp, "run"))
                    scores.append(normalised(ret, env))
                    walls.append(wall)
                m = sum(scores) / len(scores)
                sd = (sum((s - m) ** 2 for s in scores) / len(scores)) ** 0.5
                w = sum(walls) / len(walls)
                rlpc_time[(env, algo, dataset)] = (w, scores)
                cells.append(f"{m:6.1f} ± {sd:5.1f} ({w:5.1f} s)")
            print(f"  {algo:<6}" + "".join(f"{c:>24}" for c in cells), flush=True)
    if not a.peers:
        return
    peer_time = {}
    print(f"\nd3rlpy, {a.updates} updates, seeds {a.peer_seeds}: seconds per 10,000 updates "
          f"and normalised score, against rlpc on the same data")
    for env in a.envs.split(","):
        for algo in a.peer_algos.split(","):
            for dataset in a.peer_datasets.split(","):
                for seed in [int(s) for s in a.peer_seeds.split(",")]:
                    r = run_peer(a.peers, env, algo, dataset, seed, a.updates, tmp)
                    if r is None:
                        print(f"  {env} {algo} {dataset}: not in d3rlpy")
                        continue
                    w, scores = rlpc_time.get((env, algo, dataset), (float("nan"), []))
                    ours = w / a.updates * 1e4
                    mine = scores[seeds.index(seed)] if seed in seeds and scores else float("nan")
                    print(f"  {env} {algo:<5} {dataset:<7} seed {seed}: d3rlpy "
                          f"{r['seconds_per_10k']:7.1f} s/10k, score {r['normalised']:6.1f} | "
                          f"rlpc {ours:6.1f} s/10k, score {mine:6.1f} | "
                          f"{r['seconds_per_10k'] / ours:5.1f}x faster", flush=True)
                    peer_time[(env, algo)] = r["seconds_per_10k"]
    # What 5x d3rlpy's speed would take: the update's matrix products alone, at a rate
    # set against the best the peer's BLAS reaches on this machine in this run.
    bound = flops.gemm_rate(a.peers, "torch")
    print(f"\nbest f32 matrix-product rate (torch, {os.cpu_count()} threads): {bound:.0f} GFLOP/s")
    for (env, algo), peer in peer_time.items():
        flop = flop_per_update(env, algo)
        need = flop / (peer / 1e4 / 5) / 1e9
        print(f"  {env} {algo:<5}: {flop / 1e6:7.1f} MFLOP per update; 5x d3rlpy needs "
              f"{need:6.1f} GFLOP/s of products alone = {100 * need / bound:5.1f} % of that rate")


if __name__ == "__main__":
    main()
