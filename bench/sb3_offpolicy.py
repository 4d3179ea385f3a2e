"""Stable-Baselines3 beside rlpc's off-policy examples, for docs/benchmarks.md: SAC with
rl-baselines3-zoo's Pendulum-v1 settings ([256, 256], batch 256, one update per step,
learning starts at 100 — SB3's default — 20k steps) or DQN with the zoo's CartPole-v1
settings, timing the run and evaluating the greedy policy every 1,000 steps on 10
episodes (the evaluation time is left out of the wall time).

    python bench/sb3_offpolicy.py sac|dqn SEED

Needs stable-baselines3 2.9.2, gymnasium and torch (CPU); 2 threads.
"""
import sys
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import DQN, SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy

torch.set_num_threads(2)


class Probe(BaseCallback):
    def __init__(self, env_id, every, threshold):
        super().__init__()
        self.env = gym.make(env_id)
        self.every, self.threshold = every, threshold
        self.paused, self.first = 0.0, None

    def _on_step(self):
        if self.num_timesteps % self.every == 0:
            t = time.perf_counter()
            mean, _ = evaluate_policy(self.model, self.env, n_eval_episodes=10, deterministic=True)
            self.paused += time.perf_counter() - t
            wall = time.perf_counter() - self.start - self.paused
            print(f"  {self.num_timesteps} steps, {wall:.1f} s: greedy {mean:.1f}", flush=True)
            if self.first is None and mean >= self.threshold:
                self.first = (self.num_timesteps, wall)
        return True


def main():
    algo, seed = sys.argv[1], int(sys.argv[2])
    if algo == "sac":
        model = SAC("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, seed=seed,
                    policy_kwargs=dict(net_arch=[256, 256]), batch_size=256)
        steps, probe = 20_000, Probe("Pendulum-v1", 1_000, -200.0)
    else:
        model = DQN("MlpPolicy", "CartPole-v1", learning_rate=2.3e-3, batch_size=64,
                    buffer_size=100_000, learning_starts=1_000, gamma=0.99,
                    target_update_interval=10, train_freq=256, gradient_steps=128,
                    exploration_fraction=0.16, exploration_final_eps=0.04,
                    policy_kwargs=dict(net_arch=[256, 256]), seed=seed)
        steps, probe = 50_000, Probe("CartPole-v1", 1_000, 475.0)
    probe.start = time.perf_counter()
    model.learn(steps, callback=probe)
    wall = time.perf_counter() - probe.start - probe.paused
    print(f"sb3 {algo} seed {seed}: {wall:.1f} s of training; first greedy ≥ {probe.threshold}: {probe.first}")


if __name__ == "__main__":
    main()
