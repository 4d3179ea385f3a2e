#!/usr/bin/env python3
"""Reference trajectories of Gymnasium's Pendulum-v1, MountainCar-v0,
MountainCarContinuous-v0 and Acrobot-v1, for testing rlpc's `.rlp` environments
(``stdlib/env/{pendulum,mountain_car,mountain_car_continuous,acrobot}.rlp``; the test is
``compiler/rlpc/tests/classic_envs.rs``).

What it produces
================
Four files in ``runtime/tests/fixtures/`` (uncompressed, fixed zip timestamps, so re-running
with the same versions gives byte-identical files):

- ``pendulum_v1.npz``                  6 episodes x 200 steps, all truncated by the time limit
- ``mountain_car_v0.npz``              7 episodes: 3 reach the goal, 4 truncated at 200 steps
- ``mountain_car_continuous_v0.npz``   4 episodes: 3 reach the goal, 1 truncated at 999 steps
- ``acrobot_v1.npz``                   4 episodes: 2 reach the height, 2 truncated at 500 steps

Each file holds E episodes padded to Tmax = the env's time limit. Index ``[e, t]`` is the
t-th call of ``step`` in episode e (t = 0 is the first step after ``reset``); steps
``t >= length[e]`` are padding (zeros, actions -1 / 0.0, flags false). S is the size of the
internal state, O of the observation, A = 1 the action size of continuous envs.

=================  ====================  ===================================================
array              dtype, shape          meaning
=================  ====================  ===================================================
``seed``           i32  [E]              seed passed to ``env.reset(seed=...)``
``init_obs``       f32  [E, O]           observation returned by ``reset``
``init_state_f64`` f64  [E, S]           internal state after ``reset``, as float64
``actions``        i32  [E, Tmax]        (discrete envs) action passed to ``step``; -1 in padding
``actions``        f32  [E, Tmax, A]     (continuous envs) action passed to ``step``, *before*
                                         Gymnasium clips it (some are out of range on purpose)
``obs``            f32  [E, Tmax, O]     observation returned by ``step``
``state_f64``      f64  [E, Tmax, S]     internal state after ``step``, as float64
``reward``         f64  [E, Tmax]        reward returned by ``step`` (a Python float = f64)
``terminated``     bool [E, Tmax]        ``terminated`` returned by ``step``
``truncated``      bool [E, Tmax]        ``truncated`` returned by ``step`` (``TimeLimit``)
``length``         i32  [E]              number of steps in the episode
=================  ====================  ===================================================

Internal states (S) and observations (O):

- Pendulum: state (theta, theta_dot) float64; obs (cos theta, sin theta, theta_dot) f32.
- MountainCar: state (position, velocity) float64; obs = float32(state).
- MountainCarContinuous: state (position, velocity). Gymnasium keeps it as float64 right
  after ``reset`` and as **float32** after every ``step``; ``state_f64`` is its exact value.
- Acrobot: state (theta1, theta2, dtheta1, dtheta2). ``reset`` draws float32 values, every
  ``step`` stores float64; obs (cos t1, sin t1, cos t2, sin t2, dt1, dt2) f32.

The episodes (the outcome of each is asserted, so a changed Gymnasium fails loudly) are
listed in ``SPECS`` below: random actions, energy-pumping controllers that reach the goal
(MountainCar: push in the direction of the velocity; Acrobot: torque in the direction of
dtheta2), constant and zero actions, and for the continuous envs actions up to 1.5x the
bound so that clipping is exercised.

How to run it
=============
From the repository root, with a virtualenv outside the repository::

    python3 -m venv /tmp/gymvenv
    /tmp/gymvenv/bin/pip install gymnasium==1.4.0 numpy==2.4.6
    /tmp/gymvenv/bin/python tools/make_classic_fixtures.py [--out-dir DIR]

Versions used for the committed fixtures: gymnasium 1.4.0, numpy 2.4.6, Python 3.11,
x86-64 Linux. The dynamics themselves are described in ``docs/envs/<name>.md``.
"""

from __future__ import annotations

import argparse
import io
import pathlib
import warnings
import zipfile

import gymnasium as gym
import numpy as np


def write_npz(path, arrays):
    """Like `np.savez`, but with fixed timestamps so the file is reproducible byte for byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, buf.getvalue())
    tmp.replace(path)


def cont(x):
    """A continuous action as Gymnasium expects it: float32 array of shape (1,)."""
    return np.array([x], dtype=np.float32)


def specs():
    """env id -> (file stem, time limit, continuous?, [(seed, policy(obs, state), outcome)])."""
    rng = np.random.default_rng(20240612)
    pump_mc = lambda o, s: 2 if s[1] >= 0 else 0  # noqa: E731
    return {
        "Pendulum-v1": ("pendulum_v1", 200, True, [
            (201, lambda o, s: cont(rng.uniform(-3.0, 3.0)), "truncated"),
            # energy pumping with torque up to 3 (clipped to 2), then whatever happens
            (202, lambda o, s: cont(3.0 * np.sign(s[1] * np.cos(s[0]) + 1e-9)), "truncated"),
            (203, lambda o, s: cont(0.0), "truncated"),
            (204, lambda o, s: cont(2.5), "truncated"),
            # PD controller on the wrapped angle, saturating beyond the bounds
            (205, lambda o, s: cont(-4.0 * (((s[0] + np.pi) % (2 * np.pi)) - np.pi)
                                    - 1.0 * s[1]), "truncated"),
            (206, lambda o, s: cont(rng.normal(0.0, 1.5)), "truncated"),
        ]),
        "MountainCar-v0": ("mountain_car_v0", 200, False, [
            (301, pump_mc, "goal"),
            (302, lambda o, s: int(rng.integers(3)) if rng.random() < 0.2 else pump_mc(o, s),
             "goal"),
            (303, lambda o, s: int(rng.integers(3)), "truncated"),
            (304, lambda o, s: 1, "truncated"),
            (305, pump_mc, "goal"),
            # pumps but hits the left wall hard first (position clipped, velocity zeroed)
            (306, lambda o, s: 0 if s[0] > -0.9 and s[1] < 0.01 else pump_mc(o, s), "any"),
            (307, lambda o, s: 0, "truncated"),
        ]),
        "MountainCarContinuous-v0": ("mountain_car_continuous_v0", 999, True, [
            (401, lambda o, s: cont(1.5 if s[1] >= 0 else -1.5), "goal"),
            (402, lambda o, s: cont(rng.uniform(-1.5, 1.5)), "truncated"),
            (403, lambda o, s: cont(0.6 if s[1] >= 0 else -0.6), "goal"),
            (404, lambda o, s: cont(np.clip(rng.normal(1.0 if s[1] >= 0 else -1.0, 0.4), -1.4,
                                            1.4)), "goal"),
        ]),
        "Acrobot-v1": ("acrobot_v1", 500, False, [
            (501, lambda o, s: 2 if s[3] > 0 else 0, "goal"),
            (502, lambda o, s: int(rng.integers(3)), "truncated"),
            (503, lambda o, s: int(rng.integers(3)) if rng.random() < 0.1
             else (2 if s[3] > 0 else 0), "goal"),
            (504, lambda o, s: 2 if s[2] > 0 else 0, "truncated"),
        ]),
    }


def record(env_id, seed, policy):
    """Runs one episode of `gymnasium.make(env_id)` and records what it returns."""
    env = gym.make(env_id)
    obs0, _ = env.reset(seed=seed)
    state0 = np.array(env.unwrapped.state, dtype=np.float64)
    steps = []
    obs = obs0
    while True:
        state = np.array(env.unwrapped.state, dtype=np.float64)
        action = policy(obs, state)
        obs, reward, terminated, truncated, _ = env.step(action)
        assert obs.dtype == np.float32
        state = np.array(env.unwrapped.state, dtype=np.float64)
        steps.append((action, obs, state, float(reward), bool(terminated), bool(truncated)))
        if terminated or truncated:
            break
    env.close()
    return obs0, state0, steps


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=pathlib.Path,
                        default=root / "runtime" / "tests" / "fixtures")
    args = parser.parse_args()
    warnings.simplefilter("error")  # a Gymnasium warning here means the recording is wrong

    for env_id, (stem, tmax, continuous, eps) in specs().items():
        recs = [(seed, kind) + record(env_id, seed, policy) for seed, policy, kind in eps]
        e = len(recs)
        s_dim = len(recs[0][3])
        o_dim = len(recs[0][2])
        arrays = {
            "seed": np.zeros(e, np.int32),
            "init_obs": np.zeros((e, o_dim), np.float32),
            "init_state_f64": np.zeros((e, s_dim), np.float64),
            "actions": (np.zeros((e, tmax, 1), np.float32) if continuous
                        else np.full((e, tmax), -1, np.int32)),
            "obs": np.zeros((e, tmax, o_dim), np.float32),
            "state_f64": np.zeros((e, tmax, s_dim), np.float64),
            "reward": np.zeros((e, tmax), np.float64),
            "terminated": np.zeros((e, tmax), np.bool_),
            "truncated": np.zeros((e, tmax), np.bool_),
            "length": np.zeros(e, np.int32),
        }
        clipped = 0
        for i, (seed, kind, obs0, state0, steps) in enumerate(recs):
            n = len(steps)
            arrays["seed"][i] = seed
            arrays["init_obs"][i] = obs0
            arrays["init_state_f64"][i] = state0
            arrays["length"][i] = n
            for t, (action, obs, state, reward, terminated, truncated) in enumerate(steps):
                arrays["actions"][i, t] = action
                arrays["obs"][i, t] = obs
                arrays["state_f64"][i, t] = state
                arrays["reward"][i, t] = reward
                arrays["terminated"][i, t] = terminated
                arrays["truncated"][i, t] = truncated
                if continuous:
                    clipped += int(abs(float(action[0])) > (2.0 if "Pendulum" in env_id else 1.0))
            last_term, last_trunc = steps[-1][4], steps[-1][5]
            if kind == "goal":
                assert last_term and not last_trunc and n < tmax, (env_id, i, n)
            elif kind == "truncated":
                assert last_trunc and not last_term and n == tmax, (env_id, i, n)
            else:
                assert last_term or last_trunc
            assert not any(s[4] for s in steps[:-1]), "terminated only on the last step"
            print(f"{env_id} episode {i}: seed {seed}, {n:3d} steps, "
                  f"{'terminated' if last_term else 'truncated'}")
        if env_id.startswith("MountainCar"):
            wall = int(np.sum(arrays["obs"][..., 0] == np.float32(-1.2)))
            print(f"  steps with the car at the left wall: {wall}")
            if env_id == "MountainCar-v0":
                assert wall > 0, "no episode hits the left wall"
        if continuous:
            print(f"  out-of-range (clipped) actions: {clipped}")
            assert clipped > 0
        path = args.out_dir / f"{stem}.npz"
        write_npz(path, arrays)
        total = int(arrays["length"].sum())
        assert total >= 1000
        print(f"wrote {path} ({total} steps in {e} episodes, {path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
