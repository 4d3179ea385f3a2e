#!/usr/bin/env python3
"""rlpc external-environment worker: hosts Gymnasium environments for rlpc.

rlpc starts this script, writes a one-line JSON hello to its stdin, reads a one-line
JSON spec back, then exchanges binary frames. The protocol is described in
docs/external-envs.md; this file is its reference implementation.

Run by hand:  python3 tools/rlpc_gym_worker.py   then type
              {"env": "CartPole-v1", "num_envs": 1, "seed": 0}
"""
import json
import os
import sys

PROTOCOL = 1


def send_line(out, message):
    out.write((json.dumps(message) + "\n").encode())
    out.flush()


def fail(message, code=2):
    # Protocol violations after the handshake: say why on stderr and exit.
    sys.stderr.write("rlpc_gym_worker: " + message + "\n")
    sys.stderr.flush()
    sys.exit(code)


def read_exact(inp, n):
    data = inp.read(n)
    if data is None or len(data) != n:
        fail(f"stdin closed in the middle of a frame ({0 if data is None else len(data)} of {n} bytes)")
    return data


def bound(x):
    # JSON has no infinities: unbounded limits travel as null.
    x = float(x)
    return x if x == x and abs(x) != float("inf") else None


def main():
    # The real stdout is the protocol channel and nothing else may write to it: keep a
    # private copy of it and point fd 1 (print, C extensions) at stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer

    line = inp.readline()
    if not line:
        return 0
    try:
        hello = json.loads(line)
        env_id, k, seed = str(hello["env"]), int(hello["num_envs"]), int(hello["seed"])
        if k < 1:
            raise ValueError("num_envs must be at least 1")
    except Exception as e:  # noqa: BLE001 - reported to rlpc
        send_line(out, {"error": f"bad hello {line!r}: {e}", "kind": "protocol"})
        return 2

    try:
        import numpy as np
        import gymnasium as gym
    except ImportError as e:
        send_line(out, {"error": str(e), "kind": "missing_module", "module": e.name})
        return 1

    try:
        envs = [gym.make(env_id) for _ in range(k)]
    except (gym.error.NameNotFound, gym.error.NamespaceNotFound, gym.error.VersionNotFound,
            gym.error.DeprecatedEnv, gym.error.UnregisteredEnv) as e:
        send_line(out, {"error": str(e), "kind": "unknown_env"})
        return 1
    except gym.error.DependencyNotInstalled as e:
        send_line(out, {"error": str(e), "kind": "dependency"})
        return 1
    except Exception as e:  # noqa: BLE001 - reported to rlpc
        send_line(out, {"error": f"{type(e).__name__}: {e}", "kind": "error"})
        return 1

    obs_space, act_space = envs[0].observation_space, envs[0].action_space
    if not isinstance(obs_space, gym.spaces.Box):
        send_line(out, {"error": f"observation space {obs_space} is not a Box", "kind": "unsupported"})
        return 1
    if isinstance(act_space, gym.spaces.Discrete):
        action = {"type": "discrete", "n": int(act_space.n)}
        act_dtype, act_shape, act_start = np.dtype("<i4"), (), int(act_space.start)
    elif isinstance(act_space, gym.spaces.Box):
        action = {"type": "box", "shape": list(act_space.shape),
                  "low": [bound(x) for x in act_space.low.ravel()],
                  "high": [bound(x) for x in act_space.high.ravel()]}
        act_dtype, act_shape, act_start = np.dtype("<f4"), tuple(act_space.shape), 0
    else:
        send_line(out, {"error": f"action space {act_space} is neither Discrete nor Box", "kind": "unsupported"})
        return 1
    max_steps = envs[0].spec.max_episode_steps if envs[0].spec is not None else None
    send_line(out, {"protocol": PROTOCOL, "obs_shape": list(obs_space.shape), "action": action,
                    "max_steps": max_steps})

    dim = int(np.prod(obs_space.shape, dtype=np.int64))
    act_bytes = k * int(np.prod(act_shape, dtype=np.int64)) * 4
    obs = np.zeros((k, dim), dtype="<f4")
    final_obs = np.zeros((k, dim), dtype="<f4")
    reward = np.zeros(k, dtype="<f4")
    terminated = np.zeros(k, dtype=np.uint8)
    truncated = np.zeros(k, dtype=np.uint8)
    seeded = False  # environments are seeded on their first reset only
    started = False

    while True:
        cmd = inp.read(1)
        if not cmd or cmd == b"Q":
            break
        if cmd == b"R":
            for i, env in enumerate(envs):
                o, _ = env.reset(seed=None if seeded else seed + i)
                obs[i] = np.asarray(o, dtype=np.float32).ravel()
            seeded = started = True
            out.write(obs.tobytes())
        elif cmd == b"S":
            if not started:
                fail("step before the first reset")
            actions = np.frombuffer(read_exact(inp, act_bytes), dtype=act_dtype).reshape((k,) + act_shape)
            for i, env in enumerate(envs):
                if action["type"] == "discrete":
                    a = int(actions[i]) + act_start
                else:
                    a = actions[i].astype(act_space.dtype)
                o, r, term, trunc, _ = env.step(a)
                final_obs[i] = np.asarray(o, dtype=np.float32).ravel()
                if term or trunc:
                    o, _ = env.reset()
                    obs[i] = np.asarray(o, dtype=np.float32).ravel()
                else:
                    obs[i] = final_obs[i]
                reward[i], terminated[i], truncated[i] = r, bool(term), bool(trunc)
            out.write(obs.tobytes() + final_obs.tobytes() + reward.tobytes()
                      + terminated.tobytes() + truncated.tobytes())
        else:
            fail(f"unknown command byte {cmd!r}")
        out.flush()

    for env in envs:
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
