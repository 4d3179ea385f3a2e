"""The tree search of bench/mcts.rlp in DeepMind's mctx (JAX, jit, CPU) for comparison:
64 searches of 100 simulations from CartPole states, each new node evaluated by one
random rollout of 20 steps through CartPole's dynamics (discount 0.98), descents at most
16 deep, two actions with uniform priors and no root noise. mctx selects by PUCT
(muzero_policy) where rlpc's uct uses UCB1; the work per simulation — a descent, one
expansion through the model, a 20-step rollout, a backup — is the same. The dynamics run
in f32 here (JAX's default) and in f64 in rlpc. Prints simulations per second.
Versions: mctx 0.0.5, jax 0.4.38 (jaxlib 0.4.38), chex 0.1.90.

    python bench/mcts_mctx.py [searches] [simulations] [rollout] [depth] [reps]
"""
import sys
import time

import jax
import jax.numpy as jnp
import mctx

B = int(sys.argv[1]) if len(sys.argv) > 1 else 64
SIMS = int(sys.argv[2]) if len(sys.argv) > 2 else 100
ROLLOUT = int(sys.argv[3]) if len(sys.argv) > 3 else 20
DEPTH = int(sys.argv[4]) if len(sys.argv) > 4 else 16
REPS = int(sys.argv[5]) if len(sys.argv) > 5 else 20
GAMMA = 0.98


def step(s, a):
    """CartPole-v1's step (stdlib/env/cartpole.rlp): (state, terminated)."""
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_mass = masspole + masscart
    polemass_length = masspole * length
    theta_limit = 12 * 2 * 3.141592653589793 / 360
    x, x_dot, theta, theta_dot = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
    force = jnp.where(a == 1, force_mag, -force_mag)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    temp = (force + polemass_length * theta_dot ** 2 * sin) / total_mass
    thetaacc = (gravity * sin - cos * temp) / (
        length * (4.0 / 3.0 - masspole * cos ** 2 / total_mass))
    xacc = temp - polemass_length * thetaacc * cos / total_mass
    x2 = x + tau * x_dot
    theta2 = theta + tau * theta_dot
    s2 = jnp.stack([x2, x_dot + tau * xacc, theta2, theta_dot + tau * thetaacc], axis=-1)
    term = (x2 < -2.4) | (x2 > 2.4) | (theta2 < -theta_limit) | (theta2 > theta_limit)
    return s2, term


def rollout(key, s):
    """The discounted return of uniformly random actions for ROLLOUT steps, cut at
    termination."""
    def body(c, k):
        s, ret, disc, alive = c
        a = jax.random.randint(k, (s.shape[0],), 0, 2)
        s, term = step(s, a)
        ret = ret + jnp.where(alive, disc, 0.0)
        return (s, ret, disc * GAMMA, alive & ~term), None

    n = s.shape[0]
    init = (s, jnp.zeros(n), jnp.ones(n), jnp.ones(n, bool))
    (_, ret, _, _), _ = jax.lax.scan(body, init, jax.random.split(key, ROLLOUT))
    return ret


def recurrent_fn(params, key, action, emb):
    s, done = emb
    s2, term = step(s, action)
    ended = done | term
    value = jnp.where(ended, 0.0, rollout(key, s2))
    out = mctx.RecurrentFnOutput(
        reward=jnp.where(done, 0.0, 1.0),
        discount=jnp.where(ended, 0.0, GAMMA),
        prior_logits=jnp.zeros((s.shape[0], 2)),
        value=value)
    return out, (s2, ended)


@jax.jit
def search(key, states):
    k1, k2 = jax.random.split(key)
    root = mctx.RootFnOutput(prior_logits=jnp.zeros((B, 2)), value=rollout(k1, states),
                             embedding=(states, jnp.zeros(B, bool)))
    out = mctx.muzero_policy(None, k2, root, recurrent_fn, num_simulations=SIMS,
                             max_depth=DEPTH, dirichlet_fraction=0.0)
    return out.action, out.search_tree.summary().visit_counts


def main():
    states = jax.random.uniform(jax.random.PRNGKey(3), (B, 4), minval=-0.05, maxval=0.05)
    key = jax.random.PRNGKey(0)
    t0 = time.perf_counter()
    jax.block_until_ready(search(key, states))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(REPS):
        a, visits = search(jax.random.fold_in(key, i), states)
    jax.block_until_ready(visits)
    dt = time.perf_counter() - t0
    sims = REPS * B * SIMS
    print(f"mctx: {REPS} searches of {B}x{SIMS} in {dt:.3f} s (compiled in {compile_s:.1f} s): "
          f"{sims / dt:.0f} simulations/s; visits at root {visits.sum(-1)[0]:.0f}")


if __name__ == "__main__":
    main()
