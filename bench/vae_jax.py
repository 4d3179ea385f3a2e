"""The VAE of bench/vae.rlp in JAX (CPU), for bench/vae.sh: each step renders `batch`
fresh 16x16 pendulum images (a soft rod, sigmoid of the signed distance, as
stdlib/render.rlp), encodes them with an MLP (256 -> hidden -> 2*latent, ReLU), reads a
diagonal Gaussian with the same soft-bounded log-std as std.vi.diagonal_gaussian,
decodes a reparameterised draw (latent -> hidden -> 256 Bernoulli logits) and takes one
Adam step on the negative ELBO (Bernoulli log-likelihood minus the closed-form KL to
N(0, I)). Initialisation as std.nn.linear (uniform in +-1/sqrt(inputs)).

    python bench/vae_jax.py BATCH HIDDEN [STEPS]

Prints images/s two ways: `step` is a jitted update called from a Python loop (what a
training script does), `scan` runs 100 updates per call inside one jitted lax.scan (no
Python between updates). Versions used for docs/benchmarks.md: jax 0.10.2, jaxlib
0.10.2, numpy 2.x (CPU wheels from PyPI, in a venv outside the repository); the script
prints them. Threads: XLA's default on this machine's 2 cores.
"""
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

SIZE, LATENT, PIXELS = 16, 4, 256
PI = 3.141592653589793


def linear(key, i, o):
    kw, kb = jax.random.split(key)
    s = 1.0 / np.sqrt(i)
    return (jax.random.uniform(kw, (i, o), minval=-s, maxval=s),
            jax.random.uniform(kb, (o,), minval=-s, maxval=s))


def mlp(params, x):
    (w0, b0), (w1, b1) = params
    return jax.nn.relu(x @ w0 + b0) @ w1 + b1


def grid():
    i = np.arange(PIXELS, dtype=np.float32)
    row = np.floor(i / SIZE)
    col = i - row * SIZE
    return jnp.asarray((col + 0.5) * (2.0 / SIZE) - 1.0), jnp.asarray(1.0 - (row + 0.5) * (2.0 / SIZE))


GX, GY = grid()


def render(theta, length=0.8, width=0.15, softness=0.06):
    th = theta[:, None]
    ux, uy = -length * jnp.sin(th), length * jnp.cos(th)
    px, py = GX[None, :], GY[None, :]
    t = jnp.clip((px * ux + py * uy) / (ux * ux + uy * uy + 1e-12), 0.0, 1.0)
    ex, ey = px - t * ux, py - t * uy
    return jax.nn.sigmoid((width - jnp.sqrt(ex * ex + ey * ey + 1e-12)) / softness)


def softplus(x):
    return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


def loss(params, key, batch):
    enc, dec = params
    k1, k2 = jax.random.split(key)
    x = render(jax.random.uniform(k1, (batch,), minval=-PI, maxval=PI))
    out = mlp(enc, x)
    mu, raw = out[:, :LATENT], out[:, LATENT:]
    ls = 2.0 - softplus(2.0 - raw)
    ls = -6.0 + softplus(ls + 6.0)
    z = mu + jnp.exp(ls) * jax.random.normal(k2, mu.shape)
    logits = mlp(dec, z)
    rec = jnp.sum(x * logits - softplus(logits), axis=-1)
    kl = jnp.sum(0.5 * (jnp.exp(2.0 * ls) + mu * mu - 1.0) - ls, axis=-1)
    return -jnp.mean(rec - kl)


def adam(params, grads, m, v, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
    v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
    step = lr / (1 - b1 ** t)
    root = 1 / jnp.sqrt(1 - b2 ** t)
    params = jax.tree.map(lambda p, m, v: p - step * m / (jnp.sqrt(v) * root + eps), params, m, v)
    return params, m, v


def main():
    batch, hidden = int(sys.argv[1]), int(sys.argv[2])
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    print(f"jax {jax.__version__}, jaxlib {jax.lib.__version__}, numpy {np.__version__}, "
          f"devices {jax.devices()}")
    ks = jax.random.split(jax.random.PRNGKey(0), 4)
    params = ((linear(ks[0], PIXELS, hidden), linear(ks[1], hidden, 2 * LATENT)),
              (linear(ks[2], LATENT, hidden), linear(ks[3], hidden, PIXELS)))
    zeros = jax.tree.map(jnp.zeros_like, params)

    def update(carry, key):
        params, m, v, t = carry
        l, g = jax.value_and_grad(loss)(params, key, batch)
        t = t + 1.0
        params, m, v = adam(params, g, m, v, t)
        return (params, m, v, t), l

    step = jax.jit(update)
    scan = jax.jit(lambda carry, keys: jax.lax.scan(update, carry, keys))

    carry = (params, zeros, zeros, jnp.float32(0.0))
    key = jax.random.PRNGKey(1)
    for _ in range(3):  # compile and warm up
        key, k = jax.random.split(key)
        carry, l = step(carry, k)
    l.block_until_ready()
    keys = jax.random.split(key, steps)
    t0 = time.perf_counter()
    for i in range(steps):
        carry, l = step(carry, keys[i])
    l.block_until_ready()
    dt = time.perf_counter() - t0
    print(f"jax step batch {batch} hidden {hidden}: {steps * batch / dt:.0f} images/s "
          f"({steps / dt:.0f} updates/s, last -ELBO {float(l):.2f})")

    chunk = 100
    chunks = [jax.random.split(k, chunk) for k in jax.random.split(key, steps // chunk + 1)]
    jax.block_until_ready(scan(carry, chunks[-1]))  # compile
    t0 = time.perf_counter()
    for kk in chunks[:-1]:
        carry, ls = scan(carry, kk)
    ls.block_until_ready()
    dt = time.perf_counter() - t0
    n = (steps // chunk) * chunk
    print(f"jax scan batch {batch} hidden {hidden}: {n * batch / dt:.0f} images/s "
          f"({n / dt:.0f} updates/s, last -ELBO {float(ls[-1]):.2f})")


if __name__ == "__main__":
    main()
