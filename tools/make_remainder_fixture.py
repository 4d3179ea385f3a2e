#!/usr/bin/env python3
"""numpy's floored remainder (`np.remainder`, Python's `%`) on inputs chosen to catch an
inexact one, for `compiler/jit/tests/jit/remainder.rs`.

Writes ``compiler/jit/tests/fixtures/remainder.npz`` (~450 KB): ``a64``, ``b64``, ``r64`` in
f64 and ``a32``, ``b32``, ``r32`` in f32, where ``r = np.remainder(a, b)``. The inputs:

- uniform ``a`` on [-1000, 1000] against the divisors environments use (2π, π, 1, 0.1, 3)
  and random ones, both signs;
- ``a`` within a few ulps of a multiple of ``b`` (where ``a - floor(a/b)*b`` goes wrong:
  the quotient rounds up to the next integer, or the product rounds);
- tiny ``a`` of the other sign than ``b`` (the result rounds to ``b``);
- specials: ±0, ±inf, NaN, subnormals, the largest finite values, as either operand.

How to run it, from the repository root (numpy 2.4.6 made the committed file)::

    python3 -m venv /tmp/npvenv && /tmp/npvenv/bin/pip install numpy
    /tmp/npvenv/bin/python tools/make_remainder_fixture.py
"""

import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "compiler" / "jit" / "tests" / "fixtures"


def inputs(dtype, rng):
    f = np.dtype(dtype).type
    info = np.finfo(dtype)
    divisors = [2 * np.pi, np.pi, 1.0, 0.1, 3.0, -2 * np.pi, -0.1, -3.0]
    a, b = [], []
    for d in divisors:
        d = f(d)
        x = rng.uniform(-1000, 1000, 400).astype(dtype)
        a += list(x)
        b += [d] * len(x)
        # Near multiples of d, a few ulps either side.
        k = rng.integers(-2000, 2000, 200).astype(dtype)
        m = (k * d).astype(dtype)
        for steps in (-2, -1, 0, 1, 2):
            y = m
            for _ in range(abs(steps)):
                y = np.nextafter(y, f(np.inf) if steps > 0 else f(-np.inf)).astype(dtype)
            a += list(y)
            b += [d] * len(y)
        # Tiny values of both signs.
        t = (rng.uniform(-1, 1, 50) * 10.0 ** rng.integers(-30, -5, 50)).astype(dtype)
        a += list(t)
        b += [d] * len(t)
    # Random divisors of many magnitudes.
    x = rng.uniform(-1e4, 1e4, 1000).astype(dtype)
    y = (rng.uniform(-1, 1, 1000) * 10.0 ** rng.integers(-3, 4, 1000)).astype(dtype)
    a += list(x)
    b += list(y)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 5.5, -5.5,
                info.tiny, -info.tiny, info.smallest_subnormal, -info.smallest_subnormal,
                info.max, -info.max, 1e-3, -1e-3]
    for s in specials:
        for t in specials:
            a.append(f(s))
            b.append(f(t))
    a = np.array(a, dtype=dtype)
    b = np.array(b, dtype=dtype)
    with np.errstate(all="ignore"):
        r = np.remainder(a, b)
    return a, b, r


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    a64, b64, r64 = inputs(np.float64, rng)
    a32, b32, r32 = inputs(np.float32, rng)
    np.savez(OUT / "remainder.npz", a64=a64, b64=b64, r64=r64, a32=a32, b32=b32, r32=r32)
    print(f"{len(a64)} f64 and {len(a32)} f32 pairs")


if __name__ == "__main__":
    main()
