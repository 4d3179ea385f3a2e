"""PPO on CartPole in JAX, the whole training loop one jit-compiled function, in the
configuration PureJaxRL publishes for CartPole-v1: 4 environments x 128 steps per
update, 4 epochs x 4 minibatches, separate 64-64 tanh actor and critic (orthogonal
initialisation), Adam (eps 1e-5) with the learning rate annealed linearly from 2.5e-4,
global gradient norm clipped at 0.5, GAE(0.99, 0.95), clip 0.2, value loss clipped,
value coefficient 0.5, entropy coefficient 0.01.

The peer of `bench/ppo_small.sh` (issue 18, benchmark A). Written for this benchmark;
the CartPole dynamics are Gymnasium's equations in float32.

Usage: python bench/ppo_jax.py [--updates 976] [--seed 0]
Prints one line: compile seconds, training seconds, env steps/s, and the mean return of
the episodes that ended in the last 10 updates.
Tested with jax 0.10.2 (CPU).
"""

import argparse
import time

import jax
import jax.numpy as jnp

ENVS, STEPS, EPOCHS, MINIBATCHES = 4, 128, 4, 4
LR, GAMMA, LAMBDA, CLIP, ENT, VF, MAX_NORM = 2.5e-4, 0.99, 0.95, 0.2, 0.01, 0.5, 0.5
MAX_STEPS = 500


# ---- CartPole (Gymnasium's Euler integration, float32) ----

def cartpole_reset(key):
    return jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05)


def cartpole_step(s, action):
    x, x_dot, theta, theta_dot = s[0], s[1], s[2], s[3]
    force = jnp.where(action == 1, 10.0, -10.0)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    total_mass, pole_mass_length, length = 1.1, 0.05, 0.5
    temp = (force + pole_mass_length * theta_dot**2 * sin) / total_mass
    theta_acc = (9.8 * sin - cos * temp) / (length * (4.0 / 3.0 - 0.1 * cos**2 / total_mass))
    x_acc = temp - pole_mass_length * theta_acc * cos / total_mass
    tau = 0.02
    s = jnp.stack([
        x + tau * x_dot,
        x_dot + tau * x_acc,
        theta + tau * theta_dot,
        theta_dot + tau * theta_acc,
    ])
    done = (jnp.abs(s[0]) > 2.4) | (jnp.abs(s[2]) > 12 * 2 * jnp.pi / 360)
    return s, done


# ---- networks ----

def dense(key, n_in, n_out, scale):
    w = jax.nn.initializers.orthogonal(scale)(key, (n_in, n_out))
    return {"w": w, "b": jnp.zeros((n_out,))}


def mlp_init(key, sizes, last_scale):
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, k in enumerate(keys):
        scale = last_scale if i == len(keys) - 1 else jnp.sqrt(2.0)
        layers.append(dense(k, sizes[i], sizes[i + 1], scale))
    return layers


def mlp(layers, x):
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


def init_params(key):
    ka, kc = jax.random.split(key)
    return {"actor": mlp_init(ka, [4, 64, 64, 2], 0.01), "critic": mlp_init(kc, [4, 64, 64, 1], 1.0)}


# ---- Adam with a global-norm clip ----

def adam_init(params):
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return {"m": zeros, "v": zeros, "t": jnp.zeros((), jnp.int32)}


def adam_step(params, grads, state, lr):
    norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(grads)))
    scale = jnp.minimum(1.0, MAX_NORM / (norm + 1e-6))
    grads = jax.tree_util.tree_map(lambda g: g * scale, grads)
    t = state["t"] + 1
    m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, state["m"], grads)
    v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, state["v"], grads)
    c1 = 1.0 - 0.9**t
    c2 = 1.0 - 0.999**t
    params = jax.tree_util.tree_map(
        lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + 1e-5), params, m, v
    )
    return params, {"m": m, "v": v, "t": t}


# ---- PPO ----

def make_train(updates):
    n_batch = ENVS * STEPS
    mb_size = n_batch // MINIBATCHES
    total_minibatches = updates * EPOCHS * MINIBATCHES

    def loss_fn(params, mb):
        logits = mlp(params["actor"], mb["obs"])
        logp_all = jax.nn.log_softmax(logits)
        logp = jnp.take_along_axis(logp_all, mb["action"][:, None], axis=1)[:, 0]
        entropy = -jnp.sum(jnp.exp(logp_all) * logp_all, axis=1).mean()
        value = mlp(params["critic"], mb["obs"])[:, 0]
        v_clipped = mb["value"] + jnp.clip(value - mb["value"], -CLIP, CLIP)
        v_loss = 0.5 * jnp.maximum((value - mb["ret"]) ** 2, (v_clipped - mb["ret"]) ** 2).mean()
        adv = (mb["adv"] - mb["adv"].mean()) / (mb["adv"].std() + 1e-8)
        ratio = jnp.exp(logp - mb["log_prob"])
        surrogate = jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - CLIP, 1 + CLIP) * adv)
        return -surrogate.mean() + VF * v_loss - ENT * entropy

    grad_fn = jax.grad(loss_fn)

    def env_step(carry, _):
        params, states, lengths, returns, key = carry
        key, k_act, k_reset = jax.random.split(key, 3)
        logits = mlp(params["actor"], states)
        action = jax.random.categorical(k_act, logits)
        log_prob = jax.nn.log_softmax(logits)[jnp.arange(ENVS), action]
        value = mlp(params["critic"], states)[:, 0]
        next_states, terminated = jax.vmap(cartpole_step)(states, action)
        lengths = lengths + 1
        returns = returns + 1.0
        truncated = (lengths >= MAX_STEPS) & ~terminated
        done = terminated | truncated
        fresh = jax.vmap(cartpole_reset)(jax.random.split(k_reset, ENVS))
        step = {
            "obs": states, "action": action, "log_prob": log_prob, "value": value,
            "reward": jnp.ones((ENVS,)), "terminated": terminated, "truncated": truncated,
            "next_obs": next_states, "done": done, "ep_return": jnp.where(done, returns, jnp.nan),
        }
        states = jnp.where(done[:, None], fresh, next_states)
        lengths = jnp.where(done, 0, lengths)
        returns = jnp.where(done, 0.0, returns)
        return (params, states, lengths, returns, key), step

    def update(carry, i):
        params, opt, states, lengths, returns, key = carry
        (params, states, lengths, returns, key), batch = jax.lax.scan(
            env_step, (params, states, lengths, returns, key), None, STEPS
        )
        next_value = mlp(params["critic"], batch["next_obs"])[..., 0]

        def gae_step(acc, t):
            delta = t["reward"] + GAMMA * t["next_value"] * (1.0 - t["terminated"]) - t["value"]
            acc = delta + GAMMA * LAMBDA * (1.0 - t["done"]) * acc
            return acc, acc

        _, adv = jax.lax.scan(
            gae_step,
            jnp.zeros((ENVS,)),
            {
                "reward": batch["reward"], "next_value": next_value, "value": batch["value"],
                "terminated": batch["terminated"].astype(jnp.float32),
                "done": batch["done"].astype(jnp.float32),
            },
            reverse=True,
        )
        data = {
            "obs": batch["obs"], "action": batch["action"], "log_prob": batch["log_prob"],
            "value": batch["value"], "adv": adv, "ret": adv + batch["value"],
        }
        data = jax.tree_util.tree_map(lambda x: x.reshape((n_batch,) + x.shape[2:]), data)

        def epoch(carry, _):
            params, opt, key = carry
            key, k_perm = jax.random.split(key)
            perm = jax.random.permutation(k_perm, n_batch)
            shuffled = jax.tree_util.tree_map(
                lambda x: x[perm].reshape((MINIBATCHES, mb_size) + x.shape[1:]), data
            )

            def minibatch(carry, mb):
                params, opt = carry
                frac = 1.0 - opt["t"] / total_minibatches
                grads = grad_fn(params, mb)
                params, opt = adam_step(params, grads, opt, LR * frac)
                return (params, opt), None

            (params, opt), _ = jax.lax.scan(minibatch, (params, opt), shuffled)
            return (params, opt, key), None

        (params, opt, key), _ = jax.lax.scan(epoch, (params, opt, key), None, EPOCHS)
        return (params, opt, states, lengths, returns, key), batch["ep_return"]

    def train(key):
        k_init, k_reset, key = jax.random.split(key, 3)
        params = init_params(k_init)
        states = jax.vmap(cartpole_reset)(jax.random.split(k_reset, ENVS))
        carry = (params, adam_init(params), states, jnp.zeros((ENVS,), jnp.int32),
                 jnp.zeros((ENVS,)), key)
        carry, ep_returns = jax.lax.scan(update, carry, jnp.arange(updates))
        return carry[0], ep_returns

    return train


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=976)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    train = jax.jit(make_train(args.updates))
    key = jax.random.PRNGKey(args.seed)
    t0 = time.perf_counter()
    compiled = train.lower(key).compile()
    t1 = time.perf_counter()
    params, ep_returns = compiled(key)
    jax.block_until_ready(params)
    t2 = time.perf_counter()
    last = ep_returns[-10:]
    mean_return = float(jnp.nanmean(last))
    steps = args.updates * ENVS * STEPS
    print(
        f"jax compile {t1 - t0:.2f} s train {t2 - t1:.2f} s "
        f"{steps / (t2 - t1):.0f} env steps/s last-10-updates return {mean_return:.1f}"
    )


if __name__ == "__main__":
    main()
