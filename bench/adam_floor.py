"""The least time of one Adam step on N f32 parameters here: JAX's jitted update (the
same arithmetic as bench/vae_jax.py's `adam`, fused by XLA) run REPS times inside one
`fori_loop`, so no call's dispatch is in the figure. Prints microseconds per step.

    JAX_PLATFORMS=cpu PYTHON bench/adam_floor.py N [REPS]
"""
import sys
import time

import jax
import jax.numpy as jnp


def main():
    n = int(sys.argv[1])
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 2000

    def body(i, s):
        p, m, v, g = s
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p = p - 1e-3 * m / (jnp.sqrt(v) + 1e-8)
        # A new gradient each step, so nothing is hoisted out of the loop.
        return (p, m, v, g * 0.999)

    f = jax.jit(lambda s: jax.lax.fori_loop(0, reps, body, s))
    s = tuple(jnp.full(n, k + 1.0, jnp.float32) for k in range(4))
    jax.block_until_ready(f(s))
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        jax.block_until_ready(f(s))
        best = min(best, (time.perf_counter() - t) / reps)
    print(f"{best * 1e6:.1f}")


if __name__ == "__main__":
    main()
