"""The FLOP bound of a training step: how much matrix-product arithmetic a program's
update does (from `rlpc explain`) and the best f32 matrix-product rate a peer library
reaches on this machine. Used by bench/offline.py and bench/vae.sh to say what a speed
goal asks of the products alone.

    python3 bench/flops.py PROGRAM.rlp [--set NAME=VALUE ...]   # MFLOP per update
    python3 bench/flops.py --rate PYTHON [torch|numpy|jax]       # best GFLOP/s
    python3 bench/flops.py PROGRAM.rlp [--set ...] --bound PYTHON LIB [LIB ...] [--iteration]

`--bound` times every product shape of the update by itself in each library (hot
caches, as many threads as cores) and prints the sum over the update's products of
FLOP / the best rate any of the libraries reaches at that very shape. Each timed
product is one library call, so for a product of a few microseconds the call's own
overhead is in its rate (JAX's dispatch: ~10 µs), and the sum is a floor only over
products long enough for that not to matter — 2026-12-07: numpy's 32×256×256 ran at
65 GFLOP/s and 256×32×256 at 82 against ~200 on large squares, yet a whole VAE step at
batch 32 in JAX's `scan` took about what numpy's products alone would (~320 µs), so
XLA's small products beat numpy's.

Standard library only; the rate runs in the given Python (which needs the library).
"""
import argparse
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RLPC = os.path.join(ROOT, "target", "release", "rlpc")


def flop_per_update(program, sets=()):
    """2 x the multiply-adds of the matrix products in the program's largest stage (the
    one holding `minimize`, for a training step), from `rlpc explain --no-kernels`."""
    return sum(2 * m * k * n for m, k, n in products(program, sets))


def products(program, sets=(), whole_iteration=False):
    """The (rows, inner, columns) of each matrix product in the program's largest stage
    by product FLOP; with `whole_iteration`, of every stage but `init`, products inside
    scan bodies (loops over minibatches, rollout steps) repeated as often as they run."""
    cmd = [RLPC, "explain", "--no-kernels", program]
    for s in sets:
        cmd += ["--set", s]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    shapes, per_stage, stage = {}, {}, None
    # Open scan bodies: (indent of the scan's line, its repeat count times the outer's).
    bodies = []
    for line in out.splitlines():
        m = re.match(r"== stage (.*?):", line)
        if m:
            stage, shapes, bodies = m.group(1), {}, []
            per_stage[stage] = []
            continue
        m = re.match(r"( *)%\d+ = scan\[length=(\d+)", line)
        if m and stage is not None:
            indent = len(m.group(1))
            while bodies and indent <= bodies[-1][0]:
                bodies.pop()
            times = bodies[-1][1] if bodies else 1
            bodies.append((indent, times * int(m.group(2))))
            continue
        m = re.match(r"( *)(%\d+) = (\S+)(.*) : \w+\[([\d,]*)\]", line)
        if not m or stage is None:
            continue
        indent, node, op, args, shape = m.groups()
        if indent and not whole_iteration:
            continue
        while bodies and len(indent) <= bodies[-1][0]:
            bodies.pop()
        times = bodies[-1][1] if bodies else 1
        shapes[node] = [int(x) for x in shape.split(",") if x]
        if op.startswith("matmul"):
            x, w = (shapes[o] for o in re.findall(r"%\d+", args)[:2])
            rows = 1
            for d in x[:-1]:
                rows *= d
            per_stage[stage] += [(rows, x[-1], w[-1] if len(w) > 1 else 1)] * times
    if whole_iteration:
        return [p for st, ps in per_stage.items() if st != "init" for p in ps]
    return max(per_stage.values(), key=lambda ps: sum(m * k * n for m, k, n in ps))


# Square products of 256 to 2048 and the [2048, 256] x [256, 256] of a large batch; each
# timed three times after a warm-up, with as many threads as the machine has cores.
SIZES = "[(256, 256, 256), (2048, 256, 256), (1024, 1024, 1024), (2048, 2048, 2048)]"
RATE = {
    "torch": ("import torch\ntorch.set_num_threads(os.cpu_count())\n"
              "make = lambda m, k: torch.randn(m, k)\n"
              "mul = lambda a, b: a @ b\n"),
    "numpy": ("import numpy as np\n"
              "make = lambda m, k: np.random.default_rng(0).standard_normal((m, k), np.float32)\n"
              "mul = lambda a, b: a @ b\n"),
    "jax": ("import jax, jax.numpy as jnp\n"
            "make = lambda m, k: jax.random.normal(jax.random.PRNGKey(m * k), (m, k), jnp.float32)\n"
            "dot = jax.jit(jnp.dot)\n"
            "mul = lambda a, b: dot(a, b).block_until_ready()\n"),
}
# JAX with the loop inside one jitted call (`fori_loop`), so no call's dispatch is in the
# rate: each product's left operand is shifted by a scalar carried from the previous
# product's sum, which keeps XLA from hoisting it out of the loop and costs m·k + m·n
# additions beside the 2·m·k·n of the product.
JAX_LOOP = ("import jax, jax.numpy as jnp\n"
            "make = lambda m, k: jax.random.normal(jax.random.PRNGKey(m * k), (m, k), jnp.float32)\n"
            "def looped(reps):\n"
            "    return jax.jit(lambda a, b: jax.lax.fori_loop(0, reps, lambda i, s: s + 1e-9 * jnp.sum((a + s) @ b), 0.0))\n")
JAX_LOOP_TIMING = ("for m, k, n in SHAPES:\n"
                   "    a, b = make(m, k), make(k, n)\n"
                   "    reps = max(3, int(2e9 / (2 * m * k * n)))\n"
                   "    f = looped(reps)\n"
                   "    f(a, b).block_until_ready()\n"
                   "    best = 0.0\n"
                   "    for _ in range(3):\n"
                   "        t = time.perf_counter()\n"
                   "        f(a, b).block_until_ready()\n"
                   "        best = max(best, 2 * m * k * n * reps / (time.perf_counter() - t) / 1e9)\n"
                   "    print(best)\n")
# Per shape: the best of three timings of a loop of products; prints one rate per shape.
TIMING = ("for m, k, n in SHAPES:\n"
          "    a, b = make(m, k), make(k, n)\n"
          "    for _ in range(20): mul(a, b)\n"
          "    reps = max(3, int(2e9 / (2 * m * k * n)))\n"
          "    best = 0.0\n"
          "    for _ in range(3):\n"
          "        t = time.perf_counter()\n"
          "        for _ in range(reps): mul(a, b)\n"
          "        best = max(best, 2 * m * k * n * reps / (time.perf_counter() - t) / 1e9)\n"
          "    print(best)\n")


def shape_rates(python, library, shapes):
    """The best f32 product rate (GFLOP/s) `library` reaches in `python` at each shape."""
    head = f"import os, time\nSHAPES = {list(shapes)!r}\n"
    if library == "jax-loop":
        code = head + JAX_LOOP + JAX_LOOP_TIMING
    else:
        code = head + RATE[library] + TIMING
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    done = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True,
                          env=env)
    return [float(x) for x in done.stdout.split()]


def gemm_rate(python, library="torch"):
    """The best f32 matrix-product rate (GFLOP/s) `library` reaches in `python`."""
    return max(shape_rates(python, library, eval(SIZES)))


def product_floor(program, sets, python, libraries, whole_iteration=False):
    """The least time (s) the update's products take at the best per-shape rate."""
    ps = products(program, sets, whole_iteration)
    shapes = sorted(set(ps))
    best = {sh: 0.0 for sh in shapes}
    for lib in libraries:
        for sh, r in zip(shapes, shape_rates(python, lib, shapes)):
            best[sh] = max(best[sh], r)
            print(f"  {lib} {sh[0]}x{sh[1]}x{sh[2]}: {r:.1f} GFLOP/s")
    return sum(2 * m * k * n / (best[(m, k, n)] * 1e9) for m, k, n in ps)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("program", nargs="?")
    p.add_argument("--set", action="append", default=[], dest="sets")
    p.add_argument("--rate", nargs="+", metavar=("PYTHON", "LIBRARY"))
    p.add_argument("--bound", nargs="+", metavar=("PYTHON", "LIBRARY"))
    p.add_argument("--iteration", action="store_true",
                   help="with --bound: every stage's products, loops unrolled")
    a = p.parse_args()
    if a.bound and a.program:
        libs = a.bound[1:] or ["numpy"]
        floor = product_floor(a.program, a.sets, a.bound[0], libs, a.iteration)
        flop = sum(2 * m * k * n for m, k, n in products(a.program, a.sets, a.iteration))
        what = "an iteration's" if a.iteration else "the update's"
        print(f"least time of {what} products: {floor * 1e6:.1f} us ({flop / 1e6:.3f} MFLOP)")
    elif a.rate:
        print(f"{gemm_rate(a.rate[0], a.rate[1] if len(a.rate) > 1 else 'torch'):.1f}")
    elif a.program:
        print(f"{flop_per_update(a.program, a.sets) / 1e6:.3f}")
    else:
        p.error("give a program or --rate PYTHON")


if __name__ == "__main__":
    main()
