#!/usr/bin/env python3
"""Fits the polynomials of `rlp_runtime::math::{sin_kernel, cos_kernel}` (f64).

On |r| <= pi/4, with z = r^2:
    sin r ~ r + r*z*S(z),   S(z) = s0 + s1 z + ... + s5 z^5   (6 coefficients)
    cos r ~ 1 + z*C(z),     C(z) = c0 + c1 z + ... + c6 z^6   (7 coefficients)
The leading coefficients are fixed (s0 = f64(-1/6), c0 = -1/2); the others minimise the
largest relative error of the result over a dense grid (a discrete minimax fit, solved as
a linear programme). The programme works on corrections to the Taylor coefficients, so
that its double-precision arithmetic only has to resolve quantities of the size of the
error itself; the targets come from mpmath at 60 digits. Coefficients are then rounded
to f64 one at a time, refitting the remaining ones after each rounding.

Usage: python3 tools/fit_trig.py   (needs mpmath, numpy, scipy); prints the Rust arrays
and the fit's predicted worst relative error (before the evaluation's own rounding).
"""

import mpmath as mp
import numpy as np
from scipy.optimize import linprog

mp.mp.dps = 60
R_MAX = mp.pi / 4
GRID = 4000
COS_TERMS = 6


def grid():
    # Chebyshev-like spacing in r, denser towards the end of the interval.
    return [R_MAX * mp.sin(mp.pi / 2 * mp.mpf(i) / GRID) for i in range(1, GRID + 1)]


def fit(target, weight, taylor, fixed):
    """Coefficients of degrees len(fixed)..len(taylor)-1, given the fixed leading ones.

    `target(r)` is the exact polynomial value wanted at z = r^2, `weight(r)` turns the
    polynomial's error into the relative error of the result."""
    rs = grid()
    free = list(range(len(fixed), len(taylor)))
    zs = [r * r for r in rs]
    # What the free corrections must make up: target - (fixed part + Taylor free part).
    rhs, rows, ws = [], [], []
    for r, z in zip(rs, zs):
        known = sum(mp.mpf(c) * z**k for k, c in enumerate(fixed))
        known += sum(taylor[k] * z**k for k in free)
        rhs.append(float((target(r) - known) * weight(r)))
        rows.append([float(z**k * weight(r)) for k in free])
        ws.append(weight(r))
    # The solver's tolerances are absolute: work in units of the largest residual, and
    # scale each correction so that its column's largest entry is 1.
    b = np.array(rhs)
    unit = np.abs(b).max()
    b = b / unit
    a = np.array(rows) / unit
    scale = np.abs(a).max(axis=0)
    a = a / scale
    n = len(free)
    # Variables: corrections d (n of them, scaled) and the bound t; minimise t subject
    # to -t <= a d - b <= t.
    c = np.zeros(n + 1)
    c[-1] = 1.0
    ones = np.ones((len(b), 1))
    a_ub = np.vstack([np.hstack([a, -ones]), np.hstack([-a, -ones])])
    b_ub = np.concatenate([b, -b])
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=[(None, None)] * (n + 1), method="highs",
                  options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    assert res.success, (res.message, n, unit)
    d = res.x[:n] / scale
    return [taylor[k] + mp.mpf(d[i]) for i, k in enumerate(free)], res.x[-1] * unit


def rounded_fit(target, weight, taylor, fixed):
    coeffs = list(fixed)
    err = None
    while len(coeffs) < len(taylor):
        free, err = fit(target, weight, taylor, coeffs)
        coeffs.append(float(free[0]))
    return coeffs, err


def sin_target(r):
    return (mp.sin(r) - r) / r**3


def cos_target(r):
    return (mp.cos(r) - 1) / r**2


def main():
    sin_taylor = [mp.mpf(-1) ** (k + 1) / mp.factorial(2 * k + 3) for k in range(6)]
    cos_taylor = [mp.mpf(-1) ** (k + 1) / mp.factorial(2 * k + 2) for k in range(COS_TERMS)]
    s, es = rounded_fit(sin_target, lambda r: r**3 / mp.sin(r), sin_taylor, [float(-mp.mpf(1) / 6)])
    c, ec = rounded_fit(cos_target, lambda r: r**2 / mp.cos(r), cos_taylor, [-0.5])
    # The predicted error with the rounded coefficients, on a finer grid.
    worst_s = worst_c = mp.mpf(0)
    for i in range(1, 20001):
        r = R_MAX * mp.mpf(i) / 20000
        z = r * r
        ps = sum(mp.mpf(x) * z**k for k, x in enumerate(s))
        pc = sum(mp.mpf(x) * z**k for k, x in enumerate(c))
        worst_s = max(worst_s, abs((r + r * z * ps) / mp.sin(r) - 1))
        worst_c = max(worst_c, abs((1 + z * pc) / mp.cos(r) - 1))
    print(f"// fit: sin {es:.3e}, cos {ec:.3e}; with rounded coefficients: "
          f"sin {float(worst_s):.3e}, cos {float(worst_c):.3e} (2^-53 = {2.0**-53:.3e})")
    print("pub const SIN_F64: [f64; 6] = [")
    for x in s:
        print(f"    {x!r},")
    print("];")
    print(f"pub const COS_F64: [f64; {COS_TERMS}] = [")
    for x in c:
        print(f"    {x!r},")
    print("];")


if __name__ == "__main__":
    main()
