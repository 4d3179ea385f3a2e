"""The same work as bench/replay.rlp with a numpy ring buffer laid out as
Stable-Baselines3's ReplayBuffer lays it out (one array per field, [capacity, n_envs,
...], integer indices drawn with numpy): insert 4 transitions, draw 64, per iteration.
Prints iterations per second. numpy 2.4.6 (the version measured in docs/benchmarks.md).
"""
import sys
import time

import numpy as np

capacity, n_envs, batch, iters = 1_000_000 // 4, 4, 64, int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
rng = np.random.default_rng(0)
obs = np.zeros((capacity, n_envs, 4), np.float32)
next_obs = np.zeros((capacity, n_envs, 4), np.float32)
action = np.zeros((capacity, n_envs, 1), np.int64)
reward = np.zeros((capacity, n_envs), np.float32)
done = np.zeros((capacity, n_envs), np.float32)
timeouts = np.zeros((capacity, n_envs), np.float32)
pos, full, seen = 0, False, 0.0
t0 = time.perf_counter()
for it in range(iters):
    obs[pos] = rng.standard_normal((n_envs, 4), dtype=np.float32)
    next_obs[pos] = rng.standard_normal((n_envs, 4), dtype=np.float32)
    action[pos] = rng.integers(0, 2, (n_envs, 1))
    reward[pos] = rng.random(n_envs, dtype=np.float32)
    done[pos] = rng.random(n_envs) < 0.01
    timeouts[pos] = rng.random(n_envs) < 0.01
    pos += 1
    if pos == capacity:
        full, pos = True, 0
    upper = capacity if full else pos
    idx = rng.integers(0, upper, batch)
    env_idx = rng.integers(0, n_envs, batch)
    mb_obs = obs[idx, env_idx]
    mb_reward = reward[idx, env_idx]
    mb_action = action[idx, env_idx]
    _ = next_obs[idx, env_idx], done[idx, env_idx] * (1 - timeouts[idx, env_idx])
    seen += mb_reward.mean() + mb_obs.mean() + mb_action.mean()
dt = time.perf_counter() - t0
print(f"numpy ring buffer: {iters} iterations in {dt:.2f} s: {iters / dt:,.0f} insert+draw iterations/s")
