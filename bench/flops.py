"""The FLOP bound of a training step: how much matrix-product arithmetic a program's
update does (from `rlpc explain`) and the best f32 matrix-product rate a peer library
reaches on this machine. Used by bench/offline.py and bench/vae.sh to say what a speed
goal asks of the products alone.

    python3 bench/flops.py PROGRAM.rlp [--set NAME=VALUE ...]   # MFLOP per update
    python3 bench/flops.py --rate PYTHON [torch|numpy|jax]       # best GFLOP/s

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
    cmd = [RLPC, "explain", "--no-kernels", program]
    for s in sets:
        cmd += ["--set", s]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    shapes, per_stage, stage = {}, {}, None
    for line in out.splitlines():
        m = re.match(r"== stage (.*?):", line)
        if m:
            stage, shapes = m.group(1), {}
            per_stage[stage] = 0
            continue
        m = re.match(r"(%\d+) = (\S+)(.*) : \w+\[([\d,]*)\]", line)
        if not m or stage is None:
            continue
        node, op, args, shape = m.groups()
        shapes[node] = [int(x) for x in shape.split(",") if x]
        if op.startswith("matmul"):
            x, w = (shapes[o] for o in re.findall(r"%\d+", args)[:2])
            rows = 1
            for d in x[:-1]:
                rows *= d
            per_stage[stage] += 2 * rows * x[-1] * (w[-1] if len(w) > 1 else 1)
    return max(per_stage.values())


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
TIMING = ("best = 0.0\n"
          f"for m, k, n in {SIZES}:\n"
          "    a, b = make(m, k), make(k, n)\n"
          "    for _ in range(20): mul(a, b)\n"
          "    reps = max(3, int(2e9 / (2 * m * k * n)))\n"
          "    for _ in range(3):\n"
          "        t = time.perf_counter()\n"
          "        for _ in range(reps): mul(a, b)\n"
          "        best = max(best, 2 * m * k * n * reps / (time.perf_counter() - t) / 1e9)\n"
          "print(best)\n")


def gemm_rate(python, library="torch"):
    """The best f32 matrix-product rate (GFLOP/s) `library` reaches in `python`."""
    code = "import os, time\n" + RATE[library] + TIMING
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    done = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True,
                          env=env)
    return float(done.stdout.strip())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("program", nargs="?")
    p.add_argument("--set", action="append", default=[], dest="sets")
    p.add_argument("--rate", nargs="+", metavar=("PYTHON", "LIBRARY"))
    a = p.parse_args()
    if a.rate:
        print(f"{gemm_rate(a.rate[0], a.rate[1] if len(a.rate) > 1 else 'torch'):.1f}")
    elif a.program:
        print(f"{flop_per_update(a.program, a.sets) / 1e6:.3f}")
    else:
        p.error("give a program or --rate PYTHON")


if __name__ == "__main__":
    main()
