"""How often the platform libm's double sin/cos (what Python's math module and Gymnasium
call) are not correctly rounded: each result is compared with the exact value from
mpmath at 200 bits, rounded once to double. Prints the fraction of arguments where they
differ. Used for the sin/cos decision in docs/envs/exactness.md.

    python tools/measure_libm_trig.py [N] [RANGE]
"""
import math
import random
import sys

import mpmath

mpmath.mp.prec = 200


def correctly_rounded(f, x):
    return float(f(mpmath.mpf(x)))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    half = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    rng = random.Random(0)
    xs = [rng.uniform(-half, half) for _ in range(n)]
    for name, f, m in [("sin", math.sin, mpmath.sin), ("cos", math.cos, mpmath.cos)]:
        off = sum(f(x) != correctly_rounded(m, x) for x in xs)
        print(f"{name}: {off} of {n} arguments in [-{half}, {half}] not correctly rounded "
              f"({100 * off / n:.3f} %)")


if __name__ == "__main__":
    main()
