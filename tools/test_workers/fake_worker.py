#!/usr/bin/env python3
"""A misbehaving rlpc worker for the tests of runtime/tests/external.rs, in plain Python
(no numpy, no gymnasium). It also shows how small a protocol implementation can be.

The environment id chooses the behaviour:
  counter-v0        obs [2] = (env seed, steps so far), Discrete(3), reward = action,
                    terminated every 5 steps
  die-after-N       behaves like counter-v0, then exits with status 3 on step N+1
  crash-after-N     behaves like counter-v0, then kills itself with SIGKILL on step N+1
  hang-after-N      behaves like counter-v0, then sleeps forever on step N+1
  hang-hello        never answers the hello
  garbage-hello     answers the hello with something that is not JSON
"""
import json
import os
import signal
import struct
import sys
import time

out = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
inp = sys.stdin.buffer

hello = json.loads(inp.readline())
env_id, k, seed = hello["env"], hello["num_envs"], hello["seed"]
if env_id == "hang-hello":
    time.sleep(3600)
if env_id == "garbage-hello":
    out.write(b"hello there\n")
    out.flush()
    time.sleep(3600)
mode, _, n = env_id.rpartition("-after-")
limit = int(n) if mode else None

out.write((json.dumps({"protocol": 1, "obs_shape": [2], "action": {"type": "discrete", "n": 3},
                       "max_steps": None}) + "\n").encode())
out.flush()

t = [0] * k
steps = 0
while True:
    cmd = inp.read(1)
    if not cmd or cmd == b"Q":
        break
    if cmd == b"R":
        t = [0] * k
        out.write(b"".join(struct.pack("<2f", seed + i, 0) for i in range(k)))
    elif cmd == b"S":
        actions = struct.unpack(f"<{k}i", inp.read(4 * k))
        if limit is not None and steps >= limit:
            sys.stderr.write(f"fake worker: {mode} after {limit} steps as asked\n")
            sys.stderr.flush()
            if mode == "die":
                sys.exit(3)
            if mode == "crash":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(3600)
        steps += 1
        t = [x + 1 for x in t]
        final_obs = b"".join(struct.pack("<2f", seed + i, t[i]) for i in range(k))
        term = [x % 5 == 0 for x in t]
        t = [0 if d else x for x, d in zip(t, term)]
        obs = b"".join(struct.pack("<2f", seed + i, t[i]) for i in range(k))
        out.write(obs + final_obs + struct.pack(f"<{k}f", *actions)
                  + bytes(term) + bytes(k))
    out.flush()
