"""Offline-RL peer baselines in d3rlpy, trained on a dataset file in rlpc's format.

Measures, for one (dataset, env, algo, seed): the wall time of the gradient updates
alone (d3rlpy's `fit` loop, i.e. minibatch sampling + update, after the models are
built; dataset building and evaluation excluded), reported as seconds per 10,000
updates; then the mean return of the greedy policy over --eval-episodes episodes of the
gymnasium env (episode i seeded with seed+1000+i) and, when --random-return and
--expert-return are both given, the normalised score 100*(ret-random)/(expert-random).
Prints exactly one JSON line on stdout (d3rlpy's own log goes to stderr); besides the
totals it carries d3rlpy's own split of each step into minibatch assembly (a Python loop
over transitions) and the update proper, as sample_/update_seconds_per_10k.

rlpc's bench calls it once per cell, with the same dataset file the rlpc program reads:

    python bench/offline_d3rlpy.py --dataset D.npz --env Pendulum-v1 --algo iql \
        --updates 10000 --seed 0 --random-return R --expert-return E

Dataset (.npz, one row per transition, episodes contiguous and in time order):
observations, actions (int32 [R] discrete / float32 [R, act_dim] continuous), rewards,
terminations, truncations, next_observations; other fields are ignored. d3rlpy stores
no next observations and drops the last step of an episode that does not terminate, so
each truncated (or unfinished) episode gets one padding row holding its final
next_observation, flagged as a timeout: every rlpc transition is kept, terminal ones
with no bootstrap, truncated ones bootstrapping from their true next observation.

Algorithms: discrete env -> DiscreteBC, DiscreteCQL (iql/awac are not in d3rlpy for
discrete actions: says so and exits 0); continuous -> BC (deterministic, MSE), CQL
(SAC-based, fixed conservative weight --cql-alpha, no Lagrangian), IQL, AWAC. Every
network uses VectorEncoderFactory(hidden_units=--hidden); actor and critic learning
rates are --lr (CQL's SAC temperature keeps d3rlpy's 1e-4); continuous actions are
min-max scaled to [-1, 1] from the env's action bounds. CPU, --threads torch threads.

Tested with: d3rlpy 2.8.1, torch 2.15.0 (+cu132 wheel, run on CPU), gymnasium 1.0.0
(d3rlpy 2.8.1 pins gymnasium==1.0.0), numpy 2.4.6, Python 3.11.
"""
import argparse
import json
import sys
import time

import numpy as np


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--env", required=True, choices=["CartPole-v1", "Pendulum-v1"])
    p.add_argument("--algo", required=True, choices=["bc", "cql", "iql", "awac"])
    p.add_argument("--updates", type=int, default=10000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--hidden", default="256,256")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--random-return", type=float, default=None)
    p.add_argument("--expert-return", type=float, default=None)
    p.add_argument("--cql-alpha", type=float, default=None,
                   help="CQL conservative weight (default 1.0 discrete, 5.0 continuous)")
    p.add_argument("--cql-samples", type=int, default=10,
                   help="CQL (continuous) sampled actions per state for the logsumexp")
    p.add_argument("--target-update", type=int, default=1000,
                   help="DiscreteCQL hard target-copy interval, in updates")
    p.add_argument("--tau", type=float, default=0.005, help="Polyak rate (cql/iql/awac)")
    p.add_argument("--expectile", type=float, default=0.7, help="IQL expectile")
    p.add_argument("--temperature", type=float, default=3.0, help="IQL inverse temperature")
    p.add_argument("--awac-lambda", type=float, default=1.0, help="AWAC lambda")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


def load_dataset(path, discrete, act_dim):
    """rlpc .npz -> arrays for d3rlpy.dataset.MDPDataset (with timeout padding rows)."""
    z = np.load(path)
    obs = np.asarray(z["observations"], np.float32)
    nobs = np.asarray(z["next_observations"], np.float32)
    rew = np.asarray(z["rewards"], np.float32).reshape(-1)
    term = np.asarray(z["terminations"]).astype(bool).reshape(-1)
    trunc = np.asarray(z["truncations"]).astype(bool).reshape(-1)
    act = np.asarray(z["actions"])
    act = act.astype(np.int32).reshape(-1) if discrete else act.astype(np.float32).reshape(len(obs), act_dim)
    n = len(obs)
    ends = term | trunc
    ends[-1] = True  # an unfinished final episode is cut there (as a timeout)
    pad = ends & ~term  # truncated / unfinished: needs a row holding next_observation
    within = ~ends[:-1]
    bad = int(np.sum(np.any(np.abs(nobs[:-1][within] - obs[1:][within]) > 1e-5, axis=1)))
    if bad:
        print(f"warning: {bad} rows whose next_observation differs from the next row's "
              "observation inside an episode; d3rlpy uses the next row's", file=sys.stderr)
    pos = np.arange(n) + np.cumsum(pad) - pad  # new index of each original row
    m = n + int(pad.sum())
    O = np.zeros((m, obs.shape[1]), np.float32)
    A = np.zeros((m,) + act.shape[1:], act.dtype)
    Rw = np.zeros(m, np.float32)
    T = np.zeros(m, np.float32)
    TO = np.zeros(m, np.float32)
    O[pos], A[pos], Rw[pos], T[pos] = obs, act, rew, term.astype(np.float32)
    pp = pos[pad] + 1
    O[pp] = nobs[pad]
    TO[pp] = 1.0
    return O, A, Rw, T, TO, n, int(ends.sum())


def make_algo(d3rlpy, a, discrete, env):
    enc = d3rlpy.models.VectorEncoderFactory(hidden_units=[int(h) for h in a.hidden.split(",")])
    if discrete:
        if a.algo == "bc":
            cfg = d3rlpy.algos.DiscreteBCConfig(batch_size=a.batch, learning_rate=a.lr,
                                                encoder_factory=enc)
        else:
            cfg = d3rlpy.algos.DiscreteCQLConfig(
                batch_size=a.batch, learning_rate=a.lr, encoder_factory=enc, gamma=a.gamma,
                n_critics=1, target_update_interval=a.target_update,
                alpha=1.0 if a.cql_alpha is None else a.cql_alpha)
        return cfg.create(device="cpu:0")
    scaler = d3rlpy.preprocessing.MinMaxActionScaler(
        minimum=env.action_space.low.astype(np.float32),
        maximum=env.action_space.high.astype(np.float32))
    common = dict(batch_size=a.batch, action_scaler=scaler)
    ac = dict(actor_learning_rate=a.lr, critic_learning_rate=a.lr, actor_encoder_factory=enc,
              critic_encoder_factory=enc, gamma=a.gamma, tau=a.tau, n_critics=2, **common)
    if a.algo == "bc":
        cfg = d3rlpy.algos.BCConfig(learning_rate=a.lr, encoder_factory=enc,
                                    policy_type="deterministic", **common)
    elif a.algo == "cql":
        cfg = d3rlpy.algos.CQLConfig(
            conservative_weight=5.0 if a.cql_alpha is None else a.cql_alpha,
            initial_alpha=1.0, alpha_learning_rate=0.0,  # fixed weight, no Lagrangian
            n_action_samples=a.cql_samples,
            **ac)
    elif a.algo == "iql":
        cfg = d3rlpy.algos.IQLConfig(expectile=a.expectile, weight_temp=a.temperature,
                                     value_encoder_factory=enc, **ac)
    else:
        cfg = d3rlpy.algos.AWACConfig(lam=a.awac_lambda, **ac)
    return cfg.create(device="cpu:0")


def evaluate(algo, env, discrete, episodes, seed):
    rets = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + 1000 + i)
        done, ret = False, 0.0
        while not done:
            act = algo.predict(np.asarray(obs, np.float32)[None])[0]
            act = int(act) if discrete else np.asarray(act, np.float32)
            obs, r, term, trunc, _ = env.step(act)
            ret += float(r)
            done = term or trunc
        rets.append(ret)
    return float(np.mean(rets))


def main():
    a = parse_args()
    discrete = a.env == "CartPole-v1"
    if discrete and a.algo in ("iql", "awac"):
        print(f"{a.algo} on {a.env}: not available in d3rlpy (no discrete-action "
              f"{a.algo.upper()}); skipped")
        return
    import gymnasium as gym
    import structlog
    import torch
    import d3rlpy
    from d3rlpy.logging import NoopAdapterFactory

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    torch.set_num_threads(a.threads)
    d3rlpy.seed(a.seed)  # random, numpy, torch
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)

    env = gym.make(a.env)
    act_dim = 1 if discrete else int(np.prod(env.action_space.shape))
    O, A, R, T, TO, rows, n_eps = load_dataset(a.dataset, discrete, act_dim)
    dataset = d3rlpy.dataset.MDPDataset(
        observations=O, actions=A, rewards=R, terminals=T, timeouts=TO,
        action_space=d3rlpy.ActionSpace.DISCRETE if discrete else d3rlpy.ActionSpace.CONTINUOUS,
        action_size=int(env.action_space.n) if discrete else act_dim)
    assert dataset.transition_count == rows, (dataset.transition_count, rows)
    print(f"dataset {a.dataset}: {rows} transitions, {n_eps} episodes", file=sys.stderr)

    algo = make_algo(d3rlpy, a, discrete, env)
    algo.build_with_dataset(dataset)  # build networks/optimisers outside the timed region
    t0 = time.perf_counter()
    (_, metrics), = algo.fit(dataset, n_steps=a.updates, n_steps_per_epoch=a.updates,
             logger_adapter=NoopAdapterFactory(), show_progress=False, save_interval=10**9)
    seconds = time.perf_counter() - t0

    ret = evaluate(algo, env, discrete, a.eval_episodes, a.seed)
    norm = None
    if a.random_return is not None and a.expert_return is not None:
        norm = 100.0 * (ret - a.random_return) / (a.expert_return - a.random_return)
    print(json.dumps({
        "algo": a.algo, "env": a.env, "dataset": a.dataset, "seed": a.seed,
        "updates": a.updates, "seconds": round(seconds, 4),
        "seconds_per_10k": round(seconds * 10000.0 / a.updates, 4),
        # d3rlpy's own per-step means inside that loop: minibatch assembly vs update
        "sample_seconds_per_10k": round(metrics["time_sample_batch"] * 10000.0, 4),
        "update_seconds_per_10k": round(metrics["time_algorithm_update"] * 10000.0, 4),
        "eval_return": ret, "normalised": norm,
        "d3rlpy_version": d3rlpy.__version__, "torch_version": torch.__version__,
    }))


if __name__ == "__main__":
    main()
