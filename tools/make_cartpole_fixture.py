#!/usr/bin/env python3
"""Reference trajectories of Gymnasium's CartPole-v1, for testing rlpc's CartPole kernel.

What it produces
================
``runtime/tests/fixtures/cartpole_v1.npz`` (uncompressed, with fixed zip timestamps, so
re-running the script with the same versions gives a byte-identical file). It holds E = 6
episodes, padded to Tmax = 500 steps. Index ``[e, t]`` is the t-th call of ``step`` in
episode e (t = 0 is the first step after ``reset``); steps ``t >= length[e]`` are padding.

=================  ===============  ==============================================================
array              dtype, shape     meaning
=================  ===============  ==============================================================
``seed``           i32  [E]         seed passed to ``env.reset(seed=...)``
``init_state``     f32  [E, 4]      observation returned by ``reset`` (float32 cast of the state)
``init_state_f64`` f64  [E, 4]      the environment's internal float64 state after ``reset``
``actions``        i32  [E, Tmax]   action passed to ``step``; -1 in padding
``obs``            f32  [E, Tmax, 4] observation returned by ``step``; 0 in padding
``state_f64``      f64  [E, Tmax, 4] internal float64 state after ``step``; 0 in padding
``reward``         f32  [E, Tmax]   reward returned by ``step``; 0 in padding
``terminated``     bool [E, Tmax]   ``terminated`` returned by ``step``; false in padding
``truncated``      bool [E, Tmax]   ``truncated`` returned by ``step``; false in padding
``length``         i32  [E]         number of steps in the episode
=================  ===============  ==============================================================

Observation/state component order: ``[x, x_dot, theta, theta_dot]``.

The episodes (each one is asserted below, so a changed Gymnasium fails loudly):

0. uniformly random actions                             -> terminated by the pole angle
1. stabilising controller with cart feedback, 5 % noise -> truncated at 500 steps
2. stabilising controller biased to lean right          -> terminated at x > +2.4
3. stabilising controller biased to lean left           -> terminated at x < -2.4
4. ``a = theta + 0.5*theta_dot > 0`` with 10 % noise     -> truncated at 500 steps
5. always push right (action 1)                         -> terminated at theta < -12 deg

How to run it
=============
From the repository root, with a virtualenv outside the repository::

    python3 -m venv /tmp/gymvenv
    /tmp/gymvenv/bin/pip install gymnasium==1.4.0 numpy==2.4.6
    /tmp/gymvenv/bin/python tools/make_cartpole_fixture.py [--out PATH]

Versions used for the committed fixture: gymnasium 1.4.0, numpy 2.4.6, Python 3.11.7,
x86-64 Linux. After writing, the script replays every episode with an independent
re-implementation of the dynamics below (float64, and an all-float32 variant) and prints how
closely each one reproduces the recorded data.

CartPole-v1 dynamics (gymnasium 1.4.0, ``envs/classic_control/cartpole.py``)
=============================================================================
``gymnasium.make("CartPole-v1")`` wraps ``CartPoleEnv`` in ``TimeLimit(500)`` (plus an order
check and a passive checker that only warn). Full description, constants and a worked
precision analysis: ``docs/envs/cartpole.md``; the essentials:

State. The environment keeps ``(x, x_dot, theta, theta_dot)`` as **float64** and never rounds
it to float32: every step reads the float64 state, does all arithmetic in float64, and stores
the float64 result. The float32 cast happens only on the way out: the observation returned by
``reset`` and ``step`` is ``float32(state)`` (round to nearest). Termination is decided on the
float64 state, not on the float32 observation. Consequence (measured by the replays this
script prints): an f64 re-implementation with libm sin/cos reproduces every recorded state
bit for bit; an all-f32 one is within ~1 ulp per step but, replaying a long episode's actions
open loop, drifts away after ~130-165 steps, so f32 kernels must be compared step by step.

Constants (float64): gravity g = 9.8, masscart = 1.0, masspole = 0.1,
total_mass = masspole + masscart = 1.1, length = 0.5 (half the pole length),
polemass_length = masspole * length = 0.05, force_mag = 10.0, tau = 0.02 s,
theta_threshold = 12 * 2 * pi / 360 = 0.20943951023931953 rad, x_threshold = 2.4.

One step with action a (0 or 1), evaluated in this order, left to right, in float64:

    force     = +10.0 if a == 1 else -10.0
    cos, sin  = cos(theta), sin(theta)
    temp      = (force + polemass_length * theta_dot**2 * sin) / total_mass
    thetaacc  = (g * sin - cos * temp)
                / (length * (4.0/3.0 - masspole * cos**2 / total_mass))
    xacc      = temp - polemass_length * thetaacc * cos / total_mass
    # explicit Euler: every update uses the values from *before* this step
    x         = x + tau * x_dot
    x_dot     = x_dot + tau * xacc
    theta     = theta + tau * theta_dot
    theta_dot = theta_dot + tau * thetaacc

(``a * b * c`` means ``(a * b) * c``; ``v**2`` is ``v * v``, exact.)

Termination: ``terminated = x < -2.4 or x > 2.4 or theta < -theta_threshold or
theta > theta_threshold`` -- strict inequalities on the new float64 state.

Truncation: ``truncated = (steps since reset >= 500)``, i.e. True on the 500th step. Both flags
can be True on the same step. ``CartPoleEnv`` itself always returns ``truncated=False``.

Reward (default ``sutton_barto_reward=False``): 1.0 on every step whose new state is inside
the bounds, and 1.0 on the step that first terminates. Stepping again without ``reset`` is
undefined behaviour in Gymnasium (it warns): the dynamics keep running, ``terminated`` is
recomputed from the new state, and the reward is 0.0 while it stays True (1.0 again if the
state drifts back inside the bounds). rlpc auto-resets instead, so never relies on this.

Reset: the float64 state is drawn i.i.d. uniform on [-0.05, 0.05) per component from the
environment's ``np.random.Generator(PCG64(SeedSequence(seed)))``:
``-0.05 + 0.1 * u`` with ``u`` a 53-bit double in [0, 1). The observation is its float32 cast.
rlpc draws from its own counter-based generator, so it matches the distribution, not the
numbers; tests start the kernel from ``init_state_f64`` (or ``init_state``).
"""

from __future__ import annotations

import argparse
import io
import math
import pathlib
import warnings
import zipfile

import gymnasium as gym
import numpy as np

TMAX = 500
# Gymnasium's constants, restated for the independent replay in `replay_f64`.
GRAVITY = 9.8
MASSPOLE = 0.1
TOTAL_MASS = MASSPOLE + 1.0
LENGTH = 0.5
POLEMASS_LENGTH = MASSPOLE * LENGTH
FORCE_MAG = 10.0
TAU = 0.02
THETA_THRESHOLD = 12 * 2 * math.pi / 360
X_THRESHOLD = 2.4


def balance(obs, bias=0.0, cart_gain=0.0):
    """A simple balancing controller; `bias` makes the pole lean and the cart drift."""
    x, x_dot, theta, theta_dot = (float(v) for v in obs)
    u = theta + 0.5 * theta_dot + cart_gain * (0.2 * x + x_dot) - bias
    return 1 if u > 0 else 0


def noisy(policy, rng, eps):
    """`policy` with probability 1 - eps, otherwise a uniformly random action."""
    return lambda obs: int(rng.integers(2)) if rng.random() < eps else policy(obs)


def episodes():
    """(seed, policy, expected outcome) of each recorded episode."""
    rng = np.random.default_rng(20240611)
    return [
        (101, lambda obs: int(rng.integers(2)), "angle"),
        (102, noisy(lambda o: balance(o, cart_gain=0.1), rng, 0.05), "truncated"),
        (103, lambda o: balance(o, bias=0.08), "x>"),
        (104, lambda o: balance(o, bias=-0.08), "x<"),
        (105, noisy(balance, rng, 0.10), "truncated"),
        (106, lambda o: 1, "angle"),
    ]


def record(seed, policy):
    """Runs one episode of `gymnasium.make("CartPole-v1")` and records what it returns."""
    env = gym.make("CartPole-v1")
    obs0, _ = env.reset(seed=seed)
    state0 = np.array(env.unwrapped.state, dtype=np.float64)
    assert obs0.dtype == np.float32 and np.array_equal(obs0, state0.astype(np.float32))
    steps = []
    obs = obs0
    while True:
        action = policy(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        state = np.array(env.unwrapped.state, dtype=np.float64)
        assert obs.dtype == np.float32 and np.array_equal(obs, state.astype(np.float32))
        steps.append((action, obs, state, float(reward), bool(terminated), bool(truncated)))
        if terminated or truncated:
            break
    env.close()
    return obs0, state0, steps


def check_outcome(kind, steps):
    """Asserts that an episode ended the way it was designed to."""
    _, _, state, _, terminated, truncated = steps[-1]
    x, theta = state[0], state[2]
    if kind == "truncated":
        assert truncated and not terminated and len(steps) == TMAX, kind
    else:
        assert terminated and not truncated, kind
        in_x = -X_THRESHOLD <= x <= X_THRESHOLD
        expected = {"angle": in_x and abs(theta) > THETA_THRESHOLD,
                    "x>": x > X_THRESHOLD, "x<": x < -X_THRESHOLD}[kind]
        assert expected, (kind, state)


def replay_f64(state0, actions, sin=math.sin, cos=math.cos):
    """The dynamics of the docstring, written independently of Gymnasium (float64)."""
    x, x_dot, theta, theta_dot = (float(v) for v in state0)
    out = []
    for a in actions:
        force = FORCE_MAG if a == 1 else -FORCE_MAG
        c, s = cos(theta), sin(theta)
        temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * s) / TOTAL_MASS
        thetaacc = (GRAVITY * s - c * temp) / (
            LENGTH * (4.0 / 3.0 - MASSPOLE * (c * c) / TOTAL_MASS))
        xacc = temp - POLEMASS_LENGTH * thetaacc * c / TOTAL_MASS
        x, x_dot, theta, theta_dot = (x + TAU * x_dot, x_dot + TAU * xacc,
                                      theta + TAU * theta_dot, theta_dot + TAU * thetaacc)
        out.append((x, x_dot, theta, theta_dot))
    return np.array(out, dtype=np.float64)


def replay_f32(obs0, actions):
    """The same dynamics with every value and operation in float32, as an f32 kernel would."""
    f = np.float32
    x, x_dot, theta, theta_dot = (f(v) for v in obs0)
    k = {n: f(v) for n, v in dict(g=GRAVITY, mp=MASSPOLE, tm=TOTAL_MASS, l=LENGTH,
                                  pl=POLEMASS_LENGTH, tau=TAU, fm=FORCE_MAG).items()}
    four_thirds = f(4.0) / f(3.0)
    out = []
    for a in actions:
        force = k["fm"] if a == 1 else -k["fm"]
        c, s = np.cos(theta), np.sin(theta)
        temp = (force + k["pl"] * (theta_dot * theta_dot) * s) / k["tm"]
        thetaacc = (k["g"] * s - c * temp) / (k["l"] * (four_thirds - k["mp"] * (c * c) / k["tm"]))
        xacc = temp - k["pl"] * thetaacc * c / k["tm"]
        x, x_dot, theta, theta_dot = (x + k["tau"] * x_dot, x_dot + k["tau"] * xacc,
                                      theta + k["tau"] * theta_dot, theta_dot + k["tau"] * thetaacc)
        out.append((x, x_dot, theta, theta_dot))
    return np.array(out, dtype=np.float32)


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


def main():
    default_out = (pathlib.Path(__file__).resolve().parent.parent
                   / "runtime" / "tests" / "fixtures" / "cartpole_v1.npz")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=default_out)
    args = parser.parse_args()
    warnings.simplefilter("error")  # a Gymnasium warning here means the recording is wrong

    specs = episodes()
    e = len(specs)
    arrays = {
        "seed": np.zeros(e, np.int32),
        "init_state": np.zeros((e, 4), np.float32),
        "init_state_f64": np.zeros((e, 4), np.float64),
        "actions": np.full((e, TMAX), -1, np.int32),
        "obs": np.zeros((e, TMAX, 4), np.float32),
        "state_f64": np.zeros((e, TMAX, 4), np.float64),
        "reward": np.zeros((e, TMAX), np.float32),
        "terminated": np.zeros((e, TMAX), np.bool_),
        "truncated": np.zeros((e, TMAX), np.bool_),
        "length": np.zeros(e, np.int32),
    }
    for i, (seed, policy, kind) in enumerate(specs):
        obs0, state0, steps = record(seed, policy)
        check_outcome(kind, steps)
        n = len(steps)
        arrays["seed"][i] = seed
        arrays["init_state"][i] = obs0
        arrays["init_state_f64"][i] = state0
        arrays["length"][i] = n
        for t, (action, obs, state, reward, terminated, truncated) in enumerate(steps):
            arrays["actions"][i, t] = action
            arrays["obs"][i, t] = obs
            arrays["state_f64"][i, t] = state
            arrays["reward"][i, t] = reward
            arrays["terminated"][i, t] = terminated
            arrays["truncated"][i, t] = truncated
        assert all(s[3] == 1.0 for s in steps), "reward is 1 on every recorded step"
        print(f"episode {i}: seed {seed}, {n:3d} steps, ends {kind}")
    write_npz(args.out, arrays)
    print(f"wrote {args.out} ({int(arrays['length'].sum())} steps in {e} episodes)")

    # Independent replays: how exactly does the written-down dynamics reproduce Gymnasium?
    for i in range(e):
        n = int(arrays["length"][i])
        acts = arrays["actions"][i, :n]
        ref = arrays["state_f64"][i, :n]
        obs = arrays["obs"][i, :n]
        libm = replay_f64(arrays["init_state_f64"][i], acts)
        npfn = replay_f64(arrays["init_state_f64"][i], acts, sin=np.sin, cos=np.cos)
        # One f32 step from each recorded observation, compared with the next observation.
        prev = np.concatenate([arrays["init_state"][i][None], obs[:-1]])
        one = np.array([replay_f32(prev[t], acts[t:t + 1])[0] for t in range(n)])
        # The whole episode in f32, open loop (the recorded actions, the f32 state).
        f32 = replay_f32(arrays["init_state"][i], acts)
        d = np.abs(f32 - obs).max(axis=1)
        horizon = next((t for t in range(n) if d[t] > 1e-3), n)
        f32_end = next((t for t in range(n) if _out_of_bounds(f32[t])), None)
        gym_end = n - 1 if arrays["terminated"][i, n - 1] else None
        print(f"replay {i}: f64 bit-exact: math.sin/cos {np.array_equal(libm, ref)}, "
              f"np.sin/cos {np.array_equal(npfn, ref)}; f32 one step max|d| "
              f"{np.abs(one - obs).max():.2g}; f32 open loop within 1e-3 for {horizon}/{n} steps, "
              f"terminates at {f32_end} (gymnasium {gym_end})")


def _out_of_bounds(s):
    """The termination test in the precision of `s` (thresholds rounded to that precision)."""
    t = s.dtype.type
    return bool(s[0] < -t(X_THRESHOLD) or s[0] > t(X_THRESHOLD)
                or s[2] < -t(THETA_THRESHOLD) or s[2] > t(THETA_THRESHOLD))


if __name__ == "__main__":
    main()
