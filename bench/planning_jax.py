"""The CEM decision of bench/planning.rlp written in JAX (jit, CPU) for comparison:
the same sizes (5 members of [200, 200] ReLU predicting changes of observation,
400 candidates, horizon 25, 40 elites, 5 rounds, one state), the same model
propagation (each member steps its own mean prediction; sequences scored by the mean
return over members) and Pendulum's known reward. Prints decisions per second and
candidate-steps per second. Versions: jax 0.4.38 (jaxlib 0.4.38), numpy 2.x.
"""
import sys
import time

import jax
import jax.numpy as jnp

E, H, P, K, ROUNDS, N = 5, 25, 400, 40, 5, 1


def init(key):
    sizes = [(4, 200), (200, 200), (200, 6)]
    params = []
    for i, (a, b) in enumerate(sizes):
        kw, kb, key = jax.random.split(key, 3)
        s = 1.0 / a ** 0.5
        params.append((jax.random.uniform(kw, (E, a, b), minval=-s, maxval=s),
                       jax.random.uniform(kb, (E, 1, b), minval=-s, maxval=s)))
    return params


def net(params, x):
    for i, (w, b) in enumerate(params):
        x = x @ w + b
        if i < len(params) - 1:
            x = jax.nn.relu(x)
    return x


def reward(o, a):
    th = jnp.arctan2(o[..., 1], o[..., 0])
    u = jnp.clip(a[..., 0], -2.0, 2.0)
    return -(th * th + 0.1 * o[..., 2] ** 2 + 0.001 * u * u)


def returns(params, obs, acts):
    # obs [N, 3]; acts [H, N, P, 1] -> [N, P]
    x0 = jnp.broadcast_to(obs[None, :, None, :], (E, N, P, 3)).reshape(E, N * P, 3)
    flat = acts.reshape(H, N * P, 1)

    def step(carry, a):
        x, ret = carry
        u = jnp.broadcast_to(a[None], (E, N * P, 1))
        out = net(params, jnp.concatenate([x, u], axis=-1))
        ret = ret + reward(x, u)
        return (x + out[..., :3], ret), None

    (_, ret), _ = jax.lax.scan(step, (x0, jnp.zeros((E, N * P))), flat)
    return ret.mean(axis=0).reshape(N, P)


@jax.jit
def plan(params, obs, key):
    mean = jnp.zeros((H, N, 1))
    std = jnp.full((H, N, 1), 2.0)

    def round_(carry, k):
        mean, std = carry
        eps = jax.random.normal(k, (H, N, P, 1))
        acts = jnp.clip(mean[:, :, None] + std[:, :, None] * eps, -2.0, 2.0)
        _, idx = jax.lax.top_k(returns(params, obs, acts), K)          # [N, K]
        w = jax.nn.one_hot(idx, P).sum(axis=1) / K                      # [N, P]
        w = w[None, :, :, None]
        m = (w * acts).sum(axis=2)
        v = (w * (acts - m[:, :, None]) ** 2).sum(axis=2)
        return (m, jnp.sqrt(v)), None

    (mean, std), _ = jax.lax.scan(round_, (mean, std), jax.random.split(key, ROUNDS))
    return mean


def main():
    decisions = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    key = jax.random.PRNGKey(0)
    params = init(key)
    obs = jnp.array([[jnp.cos(2.0), jnp.sin(2.0), 0.5]])
    plan(params, obs, key).block_until_ready()  # compile
    t = time.perf_counter()
    for i in range(decisions):
        plan(params, obs, jax.random.PRNGKey(i + 1)).block_until_ready()
    dt = time.perf_counter() - t
    steps = ROUNDS * P * H * E
    print(f"jax cem: {decisions / dt:.2f} decisions/s, "
          f"{decisions * steps / dt / 1e6:.2f} M candidate-steps/s "
          f"({1e3 * dt / decisions:.0f} ms per decision)")


if __name__ == "__main__":
    main()
