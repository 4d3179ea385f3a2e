#!/usr/bin/env python3
"""Reference values for stdlib/estimators.rlp and stdlib/losses.rlp.

Every estimator and loss is computed here with plain, straightforward numpy loops in
float64, independently of the .rlp code, on small random float32 inputs with fixed
seeds. Writes compiler/rlpc/tests/fixtures/estimators.npz, read by
compiler/rlpc/tests/estimators.rs.

Layout: a case `FN__label` has tensor inputs `.i0`, `.i1`, ... (the function's tensor
parameters in order), compile-time parameters `.p` (float64), the expected output
`.out` (float64), the tolerance `.tol` (|got - want| <= tol * max(1, |want|)) and,
for garbage/NaN cases, `.same` (the twin case's name as uint8 codes) and `.valid`
(the output positions that must be finite and bit-identical to the twin's).

Usage: python3 tools/make_estimator_fixtures.py   (needs numpy)
"""

import math
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "compiler", "rlpc", "tests",
                   "fixtures", "estimators.npz")

arrays = {}


def f32(x):
    return np.asarray(x, dtype=np.float32)


def as64(x):
    """The float64 values of a stored input (the reference sees what rlpc sees)."""
    x = np.asarray(x)
    return x.astype(np.float64) if x.dtype.kind == "f" else x


def case(name, inputs, params, out, tol, same=None, valid=None):
    assert name not in [k.rsplit(".", 1)[0] for k in arrays], name
    for k, x in enumerate(inputs):
        x = np.asarray(x)
        if x.dtype.kind == "f":
            x = x.astype(np.float32)
        elif x.dtype.kind in "iu":
            x = x.astype(np.int32)
        arrays[f"{name}.i{k}"] = x
    if params:
        arrays[f"{name}.p"] = np.asarray(params, dtype=np.float64)
    arrays[f"{name}.out"] = np.asarray(out, dtype=np.float64)
    arrays[f"{name}.tol"] = np.asarray([tol], dtype=np.float64)
    if same is not None:
        arrays[f"{name}.same"] = np.frombuffer(same.encode(), dtype=np.uint8).astype(np.int32)
        arrays[f"{name}.valid"] = np.asarray(valid, dtype=bool)


def scan_tol(T):
    return 1e-5 * max(T, 1)


# ----- references (loops, float64) ---------------------------------------------------


def ref_reward_to_go(r, done, gamma):
    T, N = r.shape
    q = np.zeros((T, N))
    for n in range(N):
        acc = 0.0
        for t in reversed(range(T)):
            acc = r[t, n] + (0.0 if done[t, n] else gamma * acc)
            q[t, n] = acc
    return q


def segments(done):
    """For each column, the (start, end) step ranges of its episodes (end inclusive)."""
    T, N = done.shape
    out = []
    for n in range(N):
        segs, s = [], 0
        for t in range(T):
            if done[t, n] or t == T - 1:
                segs.append((s, t))
                s = t + 1
        out.append(segs)
    return out


def ref_episode_return(r, done, gamma):
    T, N = r.shape
    g = np.zeros((T, N))
    for n, segs in enumerate(segments(done)):
        for s, e in segs:
            total = sum(gamma ** k * r[s + k, n] for k in range(e - s + 1))
            g[s:e + 1, n] = total
    return g


def ref_n_step(r, next_v, term, trunc, n_steps, gamma):
    T, N = r.shape
    out = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            g, disc, k = 0.0, 1.0, t
            for m in range(n_steps):
                g += disc * r[k, n]
                disc *= gamma
                if term[k, n]:
                    break
                if trunc[k, n] or k == T - 1 or m == n_steps - 1:
                    g += disc * next_v[k, n]
                    break
                k += 1
            out[t, n] = g
    return out


def seg_end(done, t, n):
    T = done.shape[0]
    e = t
    while not done[e, n] and e < T - 1:
        e += 1
    return e


def ref_td_lambda(r, next_v, term, trunc, gamma, lam):
    """The λ-return as the (1-λ)-weighted mixture of n-step returns (Sutton & Barto
    §12.1), the last one, which reaches the cut, taking the remaining weight."""
    T, N = r.shape
    ns = {}
    out = np.zeros((T, N))
    done = term | trunc
    for n in range(N):
        for t in range(T):
            m = seg_end(done, t, n) - t + 1
            total = 0.0
            for k in range(1, m):
                if k not in ns:
                    ns[k] = ref_n_step(r, next_v, term, trunc, k, gamma)
                total += (1 - lam) * lam ** (k - 1) * ns[k][t, n]
            if m not in ns:
                ns[m] = ref_n_step(r, next_v, term, trunc, m, gamma)
            total += lam ** (m - 1) * ns[m][t, n]
            out[t, n] = total
    return out


def ref_gae(r, v, next_v, term, trunc, gamma, lam):
    """A[t] = sum_l (γλ)^l δ[t+l] up to the end of the episode or rollout."""
    T, N = r.shape
    done = term | trunc
    out = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            e = seg_end(done, t, n)
            total = 0.0
            for l in range(e - t + 1):
                k = t + l
                boot = 0.0 if term[k, n] else next_v[k, n]
                delta = r[k, n] + gamma * boot - v[k, n]
                total += (gamma * lam) ** l * delta
            out[t, n] = total
    return out


def ref_cumulative(rho, done):
    T, N = rho.shape
    out = np.zeros((T, N))
    for n, segs in enumerate(segments(done)):
        for s, e in segs:
            p = 1.0
            for t in range(s, e + 1):
                p *= rho[t, n]
                out[t, n] = p
    return out


def ref_doubly_robust(r, rho, q, v, done, gamma):
    T, N = r.shape
    out = np.zeros((T, N))
    for n in range(N):
        nxt = 0.0
        for t in reversed(range(T)):
            if done[t, n]:
                nxt = 0.0
            out[t, n] = v[t, n] + rho[t, n] * (r[t, n] + gamma * nxt - q[t, n])
            nxt = out[t, n]
    return out


def ref_expectile(x, tau):
    x = x.ravel()
    lo, hi = x.min(), x.max()
    for _ in range(200):
        m = (lo + hi) / 2
        f = sum((tau if xi >= m else 1 - tau) * (xi - m) for xi in x)
        if f > 0:
            lo = m
        else:
            hi = m
    return np.float64((lo + hi) / 2)


def logsumexp_row(row):
    m = max(row)
    return m + math.log(sum(math.exp(x - m) for x in row))


def log_softmax_row(row):
    l = logsumexp_row(row)
    return [x - l for x in row]


# ----- inputs ------------------------------------------------------------------------


def rollout(rng, T, N, p_term=0.15, p_trunc=0.1):
    r = f32(rng.normal(size=(T, N)))
    v = f32(rng.normal(size=(T, N)))
    nv = f32(rng.normal(size=(T, N)))
    term = rng.random((T, N)) < p_term
    trunc = (rng.random((T, N)) < p_trunc) & ~term
    return r, v, nv, term, trunc


def main():
    rng = np.random.default_rng(20240601)

    # --- sequence estimators on rollouts with several episodes per column ----------
    configs = {
        "multi": (17, 5, 0.99, 0.95),
        "gamma1_lambda1": (13, 4, 1.0, 1.0),
        "lambda0": (9, 3, 0.9, 0.0),
        "long": (64, 6, 0.97, 0.9),
        "length1": (1, 4, 0.99, 0.95),
    }
    for label, (T, N, gamma, lam) in configs.items():
        r, v, nv, term, trunc = rollout(rng, T, N)
        R, V, NV = as64(r), as64(v), as64(nv)
        done = term | trunc
        tol = scan_tol(T)
        case(f"gae__{label}", [r, v, nv, term, trunc], [gamma, lam],
             ref_gae(R, V, NV, term, trunc, gamma, lam), tol)
        case(f"td_lambda__{label}", [r, nv, term, trunc], [gamma, lam],
             ref_td_lambda(R, NV, term, trunc, gamma, lam), tol)
        # TD(λ) returns are GAE advantages plus values, when V(next obs[t]) = V(obs[t+1])
        # within episodes.
        VC = V.copy()
        VC[1:] = np.where(done[:-1], V[1:], NV[:-1])
        np.testing.assert_allclose(ref_td_lambda(R, NV, term, trunc, gamma, lam),
                                   ref_gae(R, VC, NV, term, trunc, gamma, lam) + VC,
                                   rtol=1e-10, atol=1e-10)
        case(f"reward_to_go__{label}", [r, done], [gamma],
             ref_reward_to_go(R, done, gamma), tol)
        case(f"episode_return__{label}", [r, done], [gamma],
             ref_episode_return(R, done, gamma), tol)
        for nsteps in sorted({1, 3, T + 2}):
            case(f"n_step_return__{label}_n{nsteps}", [r, nv, term, trunc], [nsteps, gamma],
                 ref_n_step(R, NV, term, trunc, nsteps, gamma), tol)
        rho = f32(np.exp(0.3 * rng.normal(size=(T, N))))
        case(f"cumulative_importance__{label}", [rho, done], [],
             ref_cumulative(as64(rho), done), tol)
        q = f32(rng.normal(size=(T, N)))
        case(f"doubly_robust__{label}", [r, rho, q, v, done], [gamma],
             ref_doubly_robust(R, as64(rho), as64(q), V, done, gamma), tol)

    # Undiscounted reward-to-go (γ = 1) and episode return with discounting.
    r, v, nv, term, trunc = rollout(rng, 11, 3)
    done = term | trunc
    case("reward_to_go__undiscounted", [r, done], [1.0],
         ref_reward_to_go(as64(r), done, 1.0), scan_tol(11))
    case("episode_return__discounted", [r, done], [0.9],
         ref_episode_return(as64(r), done, 0.9), scan_tol(11))

    # Every step its own episode: all done.
    T, N = 6, 3
    r, v, nv, _, _ = rollout(rng, T, N)
    term = rng.random((T, N)) < 0.5
    trunc = ~term
    done = term | trunc
    R, V, NV = as64(r), as64(v), as64(nv)
    case("gae__all_done", [r, v, nv, term, trunc], [0.99, 0.95],
         ref_gae(R, V, NV, term, trunc, 0.99, 0.95), scan_tol(T))
    case("td_lambda__all_done", [r, nv, term, trunc], [0.99, 0.95],
         ref_td_lambda(R, NV, term, trunc, 0.99, 0.95), scan_tol(T))
    case("n_step_return__all_done", [r, nv, term, trunc], [4, 0.99],
         ref_n_step(R, NV, term, trunc, 4, 0.99), scan_tol(T))
    case("reward_to_go__all_done", [r, done], [0.99], R, scan_tol(T))
    case("cumulative_importance__all_done", [f32(np.exp(r)), done], [],
         np.exp(R), scan_tol(T))

    # Truncated vs terminated: the same rewards and values, one episode end marked
    # each way. The truncated one bootstraps from V(final observation).
    T, N = 8, 2
    r = f32(np.ones((T, N)))
    v = f32(np.full((T, N), 0.5))
    nv = f32(np.full((T, N), 2.0))
    cut = np.zeros((T, N), dtype=bool)
    cut[3, :] = True
    none = np.zeros((T, N), dtype=bool)
    R, V, NV = as64(r), as64(v), as64(nv)
    for label, term, trunc in [("terminated", cut, none), ("truncated", none, cut)]:
        case(f"gae__{label}", [r, v, nv, term, trunc], [0.9, 0.8],
             ref_gae(R, V, NV, term, trunc, 0.9, 0.8), scan_tol(T))
        case(f"td_lambda__{label}", [r, nv, term, trunc], [0.9, 0.8],
             ref_td_lambda(R, NV, term, trunc, 0.9, 0.8), scan_tol(T))
        case(f"n_step_return__{label}", [r, nv, term, trunc], [3, 0.9],
             ref_n_step(R, NV, term, trunc, 3, 0.9), scan_tol(T))
    # Closed forms: at the cut step, δ = 1 - 0.5 (terminated) or 1 + 0.9·2 - 0.5.
    assert abs(ref_gae(R, V, NV, cut, none, 0.9, 0.8)[3, 0] - 0.5) < 1e-12
    assert abs(ref_gae(R, V, NV, none, cut, 0.9, 0.8)[3, 0] - 2.3) < 1e-12

    # Constant value function, reward 1 per step: the closed form
    # A[t] = d (1 - (γλ)^L) / (1 - γλ) + (γλ)^L δ_end, L = steps to the episode's end.
    T, N, gamma, lam, c = 12, 3, 0.95, 0.9, 3.0
    term = np.zeros((T, N), dtype=bool)
    trunc = np.zeros((T, N), dtype=bool)
    term[4, 0] = True
    trunc[7, 1] = True
    term[2, 2] = True
    term[9, 2] = True
    r = f32(np.ones((T, N)))
    v = f32(np.full((T, N), c))
    nv = f32(np.full((T, N), c))
    closed = np.zeros((T, N))
    done = term | trunc
    x = gamma * lam
    d = 1 + gamma * c - c
    for n in range(N):
        for t in range(T):
            e = seg_end(done, t, n)
            L = e - t
            d_end = 1 - c if term[e, n] else d
            closed[t, n] = d * (1 - x ** L) / (1 - x) + x ** L * d_end
    np.testing.assert_allclose(closed, ref_gae(as64(r), as64(v), as64(nv), term, trunc,
                                               gamma, lam), rtol=1e-12)
    case("gae__constant_value", [r, v, nv, term, trunc], [gamma, lam], closed, scan_tol(T))
    case("td_lambda__constant_value", [r, nv, term, trunc], [gamma, lam], closed + c,
         scan_tol(T))

    # A time-limited task with reward 1 per step and only truncations: V = 1/(1-γ) is
    # the fixed point, so advantages are 0 and λ-returns and n-step returns equal V.
    T, N, gamma = 10, 3, 0.9
    c = 1 / (1 - gamma)
    trunc = np.zeros((T, N), dtype=bool)
    trunc[[2, 6, 9], [0, 1, 2]] = True
    term = np.zeros((T, N), dtype=bool)
    r, v = f32(np.ones((T, N))), f32(np.full((T, N), c))
    case("gae__time_limit_fixed_point", [r, v, v, term, trunc], [gamma, 0.95],
         np.zeros((T, N)), scan_tol(T))
    case("td_lambda__time_limit_fixed_point", [r, v, term, trunc], [gamma, 0.95],
         np.full((T, N), c), scan_tol(T))
    case("n_step_return__time_limit_fixed_point", [r, v, term, trunc], [4, gamma],
         np.full((T, N), c), scan_tol(T))

    # NaN in V(next obs) at terminal steps: finite outputs, identical to a clean twin.
    T, N = 15, 4
    r, v, nv, term, trunc = rollout(rng, T, N, p_term=0.3)
    term[-1, 0] = True
    R, V, NV = as64(r), as64(v), as64(nv)
    nv_nan = nv.copy()
    nv_nan[term] = np.nan
    nv_zero = nv.copy()
    nv_zero[term] = 0.0
    ok = np.ones((T, N), dtype=bool)
    for label, x in [("clean", nv_zero), ("nan_next", nv_nan)]:
        same = None if label == "clean" else "{}__clean"
        kw = lambda f: {} if same is None else {"same": same.format(f), "valid": ok}
        case(f"gae__{label}", [r, v, x, term, trunc], [0.99, 0.95],
             ref_gae(R, V, NV, term, trunc, 0.99, 0.95), scan_tol(T), **kw("gae"))
        case(f"td_lambda__{label}", [r, x, term, trunc], [0.99, 0.95],
             ref_td_lambda(R, NV, term, trunc, 0.99, 0.95), scan_tol(T), **kw("td_lambda"))
        case(f"n_step_return__{label}", [r, x, term, trunc], [3, 0.99],
             ref_n_step(R, NV, term, trunc, 3, 0.99), scan_tol(T), **kw("n_step_return"))
        case(f"td_target__{label}", [r, x, term], [0.99],
             R + 0.99 * np.where(term, 0.0, NV), 1e-6, **kw("td_target"))
    # Q targets with NaN next-state Q rows at terminal steps.
    A = 3
    nq = f32(rng.normal(size=(T, N, A)))
    nq2 = f32(rng.normal(size=(T, N, A)))
    NQ, NQ2 = as64(nq), as64(nq2)
    want_max = np.zeros((T, N))
    want_double = np.zeros((T, N))
    for t in range(T):
        for n in range(N):
            if not term[t, n]:
                want_max[t, n] = R[t, n] + 0.99 * max(NQ[t, n])
                best = int(np.argmax(NQ[t, n]))
                want_double[t, n] = R[t, n] + 0.99 * NQ2[t, n, best]
            else:
                want_max[t, n] = want_double[t, n] = R[t, n]
    D = 4
    phi = f32(rng.normal(size=(T, N, D)))
    psi = f32(rng.normal(size=(T, N, D)))
    want_sf = np.zeros((T, N, D))
    for t in range(T):
        for n in range(N):
            for k in range(D):
                boot = 0.0 if term[t, n] else as64(psi)[t, n, k]
                want_sf[t, n, k] = as64(phi)[t, n, k] + 0.9 * boot
    for label in ["clean", "nan_next"]:
        x1, x2, x3 = nq.copy(), nq2.copy(), psi.copy()
        fill = np.nan if label == "nan_next" else 0.0
        x1[term] = fill
        x2[term] = fill
        x3[term] = fill
        extra = (lambda f: {} if label == "clean"
                 else {"same": f"{f}__clean", "valid": ok})
        case(f"q_learning_target__{label}", [r, x1, term], [0.99], want_max, 1e-6,
             **extra("q_learning_target"))
        case(f"double_q_target__{label}", [r, x1, x2, term], [0.99], want_double, 1e-6,
             **extra("double_q_target"))
        case(f"successor_features__{label}", [phi, x3, term], [0.9], want_sf, 1e-6,
             **{k: (v if k != "valid" else np.ones((T, N, D), dtype=bool))
                for k, v in extra("successor_features").items()})

    # Garbage (NaN, ±1e30) in padded steps after each column's last episode ends:
    # outputs at the valid steps are bit-identical to zero padding.
    T, N = 14, 4
    r, v, nv, term, trunc = rollout(rng, T, N)
    pad_from = [14, 9, 5, 1]
    valid = np.zeros((T, N), dtype=bool)
    for n, p in enumerate(pad_from):
        valid[:p, n] = True
        if p < T:
            term[p - 1, n] = True
            trunc[p - 1, n] = False
    rho = f32(np.exp(0.3 * rng.normal(size=(T, N))))
    q = f32(rng.normal(size=(T, N)))
    for label in ["zero_pad", "garbage_pad"]:
        xs = [a.copy() for a in (r, v, nv, rho, q)]
        tm, tr = term.copy(), trunc.copy()
        for n, p in enumerate(pad_from):
            for a, g in zip(xs, [np.nan, 1e30, -np.inf, 1e30, np.nan]):
                a[p:, n] = 0.0 if label == "zero_pad" else g
            if label == "garbage_pad":
                tm[p:, n] = True
                tr[p:, n] = True
        rr, vv, nn, hh, qq = xs
        dn = tm | tr
        extra = (lambda f: {} if label == "zero_pad"
                 else {"same": f"{f}__zero_pad", "valid": valid})
        R, V, NV = as64(xs[0]), as64(xs[1]), as64(xs[2])
        tol = scan_tol(T)
        case(f"gae__{label}", [rr, vv, nn, tm, tr], [0.99, 0.95],
             ref_gae(np.nan_to_num(R), V, NV, tm, tr, 0.99, 0.95), tol, **extra("gae"))
        case(f"td_lambda__{label}", [rr, nn, tm, tr], [0.99, 0.95],
             ref_td_lambda(np.nan_to_num(R), NV, tm, tr, 0.99, 0.95), tol,
             **extra("td_lambda"))
        case(f"n_step_return__{label}", [rr, nn, tm, tr], [5, 0.99],
             ref_n_step(np.nan_to_num(R), NV, tm, tr, 5, 0.99), tol, **extra("n_step_return"))
        case(f"reward_to_go__{label}", [rr, dn], [0.99],
             ref_reward_to_go(np.nan_to_num(R), dn, 0.99), tol, **extra("reward_to_go"))
        case(f"episode_return__{label}", [rr, dn], [0.99],
             ref_episode_return(np.nan_to_num(R), dn, 0.99), tol, **extra("episode_return"))
        case(f"cumulative_importance__{label}", [hh, dn], [],
             ref_cumulative(as64(hh), dn), tol, **extra("cumulative_importance"))
        case(f"doubly_robust__{label}", [rr, hh, qq, vv, dn], [0.99],
             ref_doubly_robust(np.nan_to_num(R), as64(hh), np.nan_to_num(as64(qq)), V, dn,
                               0.99), tol, **extra("doubly_robust"))

    # --- baselines, normalisation, elementwise weights ------------------------------
    g = f32(rng.normal(size=(7, 3)))
    G = as64(g)
    case("mean_baseline__basic", [g], [], G - G.mean(), 1e-5)
    s = f32(rng.random((7, 3)) ** 2)
    S = as64(s)
    num = sum(S[i, j] * G[i, j] for i in range(7) for j in range(3))
    den = sum(S[i, j] for i in range(7) for j in range(3))
    case("optimal_baseline__basic", [g, s], [], num / den, 1e-5)
    case("optimal_baseline__zero_scores", [g, f32(np.zeros((7, 3)))], [], G.mean(), 1e-5)
    case("normalize__basic", [g], [1e-8], (G - G.mean()) / (G.std() + 1e-8), 1e-4)
    case("normalize__single", [f32([[3.5]])], [1e-8], np.zeros((1, 1)), 1e-6)
    case("normalize__zero_std", [f32(np.full((4, 3), -2.25))], [1e-8], np.zeros((4, 3)),
         1e-6)
    lp = f32(rng.normal(size=(5, 4)) * 0.3)
    blp = f32(rng.normal(size=(5, 4)) * 0.3)
    rho = np.exp(as64(lp) - as64(blp))
    case("importance_weight__basic", [lp, blp], [], rho, 1e-5)
    case("truncated_importance__basic", [f32(rho)], [1.0], np.minimum(as64(f32(rho)), 1.0),
         1e-6)
    case("clipped_importance__basic", [f32(rho)], [0.2],
         np.clip(as64(f32(rho)), 0.8, 1.2), 1e-6)
    x = f32(rng.normal(size=(6, 7)))
    for tau in (0.5, 0.7, 0.9):
        case(f"expectile__tau{int(tau * 10)}", [x], [tau, 50], ref_expectile(as64(x), tau),
             1e-5)

    # --- losses ----------------------------------------------------------------------
    B = 9
    lp, olp, adv = (f32(rng.normal(size=(B,)) * 0.4) for _ in range(3))
    LP, OLP, ADV = as64(lp), as64(olp), as64(adv)
    case("importance_weighted_pg__basic", [lp, olp, adv], [],
         -np.mean([math.exp(a - b) * c for a, b, c in zip(LP, OLP, ADV)]), 1e-5)
    vals = []
    for a, b, c in zip(LP, OLP, ADV):
        ratio = math.exp(a - b)
        vals.append(min(ratio * c, min(max(ratio, 0.8), 1.2) * c))
    case("clipped_surrogate__basic", [lp, olp, adv], [0.2], -np.mean(vals), 1e-5)
    x, y = f32(rng.normal(size=(4, 5)) * 2), f32(rng.normal(size=(4, 5)) * 2)
    X, Y = as64(x), as64(y)
    case("mse__basic", [x, y], [], np.mean((X - Y) ** 2), 1e-5)
    for delta in (1.0, 0.5):
        vals = []
        for a, b in np.nditer([X, Y]):
            d = abs(float(a) - float(b))
            vals.append(0.5 * d * d if d <= delta else delta * (d - 0.5 * delta))
        case(f"huber__delta{int(delta * 10)}", [x, y], [delta], np.mean(vals), 1e-5)
    u = f32(rng.normal(size=(3, 6)))
    for tau in (0.5, 0.9):
        vals = [(1 - tau if float(e) < 0 else tau) * float(e) ** 2 for e in np.nditer(as64(u))]
        case(f"expectile_loss__tau{int(tau * 10)}", [u], [tau], np.mean(vals), 1e-5)
    A = 4
    qv = f32(rng.normal(size=(B, A)) * 3)
    act = rng.integers(0, A, size=(B,)).astype(np.int32)
    QV = as64(qv)
    case("conservative_penalty__basic", [qv, act], [],
         np.mean([logsumexp_row(QV[i]) - QV[i, act[i]] for i in range(B)]), 1e-5)
    M = 6
    qs = f32(rng.normal(size=(B, M)) * 2)
    ld = f32(rng.normal(size=(B, M)) - 1)
    qd = f32(rng.normal(size=(B,)))
    QS, LD, QD = as64(qs), as64(ld), as64(qd)
    vals = [math.log(sum(math.exp(QS[i, j] - LD[i, j]) for j in range(M)) / M) - QD[i]
            for i in range(B)]
    case("conservative_penalty_sampled__basic", [qs, ld, qd], [], np.mean(vals), 1e-5)
    adv = f32(np.concatenate([rng.normal(size=(B - 2,)), [5.0, 200.0]]))
    ADV = as64(adv)
    vals = [min(math.exp(a / 0.5), 20.0) * l for a, l in zip(ADV, LP)]
    case("advantage_weighted_nll__basic", [lp, adv], [0.5, 20.0], -np.mean(vals), 1e-5)
    K = 5
    pl, ql = f32(rng.normal(size=(B, K)) * 2), f32(rng.normal(size=(B, K)) * 2)
    PL, QL = as64(pl), as64(ql)
    kl = []
    for i in range(B):
        lp_i, lq_i = log_softmax_row(PL[i]), log_softmax_row(QL[i])
        kl.append(sum(math.exp(a) * (a - b) for a, b in zip(lp_i, lq_i)))
    case("kl_categorical__basic", [pl, ql], [], kl, 1e-5)
    case("nll_categorical__basic", [pl, act.clip(0, K - 1)], [],
         -np.mean([log_softmax_row(PL[i])[act[i]] for i in range(B)]), 1e-5)
    case("nll__basic", [lp], [], -np.mean(LP), 1e-6)
    D = 3
    m1, s1, m2, s2 = (f32(rng.normal(size=(B, D)) * 0.7) for _ in range(4))
    M1, S1, M2, S2 = (as64(a) for a in (m1, s1, m2, s2))
    kl = []
    for i in range(B):
        tot = 0.0
        for d in range(D):
            v1, v2 = math.exp(2 * S1[i, d]), math.exp(2 * S2[i, d])
            tot += 0.5 * (math.log(v2 / v1) + (v1 + (M1[i, d] - M2[i, d]) ** 2) / v2 - 1)
        kl.append(tot)
    case("kl_gaussian__basic", [m1, s1, m2, s2], [], kl, 1e-5)
    case("gaussian_entropy__basic", [s1], [],
         [sum(0.5 * math.log(2 * math.pi * math.e * math.exp(2 * S1[i, d]))
              for d in range(D)) for i in range(B)], 1e-5)
    xg = f32(rng.normal(size=(B, D)))
    XG = as64(xg)
    lpg = []
    for i in range(B):
        tot = 0.0
        for d in range(D):
            sd = math.exp(S1[i, d])
            tot += (-0.5 * ((XG[i, d] - M1[i, d]) / sd) ** 2 - math.log(sd * math.sqrt(2 * math.pi)))
        lpg.append(tot)
    case("gaussian_log_prob__basic", [xg, m1, s1], [], lpg, 1e-5)
    noise = f32(rng.normal(size=(B, D)))
    NZ = as64(noise)
    vals = []
    for i in range(B):
        ll, klz = 0.0, 0.0
        for d in range(D):
            z = M1[i, d] + math.exp(S1[i, d]) * NZ[i, d]
            ll += -0.5 * (XG[i, d] - z) ** 2 - 0.5 * math.log(2 * math.pi)
            klz += 0.5 * (math.exp(2 * S1[i, d]) + M1[i, d] ** 2 - 1) - S1[i, d]
        vals.append(ll - klz)
    case("elbo_gaussian_decoder__basic", [m1, s1, noise, xg], [], np.mean(vals), 1e-5)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    np.savez(OUT, **arrays)
    n_cases = len([k for k in arrays if k.endswith(".out")])
    print(f"wrote {OUT}: {n_cases} cases, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
