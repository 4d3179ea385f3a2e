"""Update rates of DQN and SAC at equal sizes in PyTorch and JAX (CPU), for
bench/offpolicy.sh. Each update draws a minibatch from a 100,000-row buffer of random
transitions and does what the rlpc programs do: DQN — a Huber TD loss of a [256, 256]
ReLU Q-network against a target network, Adam; SAC — twin [256, 256] critics against
Polyak targets at a tanh-Gaussian next action, the actor, the temperature, three Adams.

    python bench/offpolicy_peers.py torch|jax|gemm

Versions used for docs/benchmarks.md: torch 2.x (CPU wheel), jax 0.4.38, numpy 2.x; the
script prints them. Threads: 2 (the machine's cores).
"""
import os
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2")
H, CAP = 256, 100_000


def rate(step, n):
    step()  # compile / warm up
    step()
    t = time.perf_counter()
    for _ in range(n):
        step()
    return n / (time.perf_counter() - t)


def torch_rates():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    def mlp(i, o):
        return nn.Sequential(nn.Linear(i, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU(), nn.Linear(H, o))

    obs, nobs = torch.randn(CAP, 4), torch.randn(CAP, 4)
    act, rew, term = torch.randint(0, 2, (CAP,)), torch.randn(CAP), torch.rand(CAP) < 0.05
    for batch in (64, 256):
        q, qt = mlp(4, 2), mlp(4, 2)
        qt.load_state_dict(q.state_dict())
        opt = torch.optim.Adam(q.parameters(), lr=1e-3)

        def dqn():
            i = torch.randint(0, CAP, (batch,))
            with torch.no_grad():
                y = rew[i] + 0.99 * (~term[i]) * qt(nobs[i]).max(1).values
            pred = q(obs[i]).gather(1, act[i][:, None])[:, 0]
            loss = F.smooth_l1_loss(pred, y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        print(f"torch dqn batch {batch}: {rate(dqn, 300):.0f} updates/s")

    pobs, pnobs, pact = torch.randn(CAP, 3), torch.randn(CAP, 3), torch.rand(CAP, 1) * 4 - 2
    actor = mlp(3, 2)
    q1, q2 = mlp(4, 1), mlp(4, 1)
    t1, t2 = mlp(4, 1), mlp(4, 1)
    t1.load_state_dict(q1.state_dict())
    t2.load_state_dict(q2.state_dict())
    log_alpha = torch.zeros(1, requires_grad=True)
    oq = torch.optim.Adam(list(q1.parameters()) + list(q2.parameters()), lr=1e-3)
    op = torch.optim.Adam(actor.parameters(), lr=1e-3)
    oa = torch.optim.Adam([log_alpha], lr=1e-3)

    def pi(o):
        out = actor(o)
        mu, ls = out[:, :1], out[:, 1:].clamp(-5, 2)
        u = mu + ls.exp() * torch.randn_like(mu)
        logp = (-0.5 * ((u - mu) / ls.exp()) ** 2 - ls - 0.9189385).sum(1)
        logp = logp - (torch.log(torch.tensor(2.0)) + 2 * (0.6931472 - u - F.softplus(-2 * u))).sum(1)
        return 2 * torch.tanh(u), logp

    def sac():
        i = torch.randint(0, CAP, (256,))
        o, a, r, no, d = pobs[i], pact[i], rew[i], pnobs[i], term[i]
        alpha = log_alpha.exp().detach()
        with torch.no_grad():
            na, nlp = pi(no)
            x = torch.cat([no, na], 1)
            y = r + 0.99 * (~d) * (torch.min(t1(x), t2(x))[:, 0] - alpha * nlp)
        x = torch.cat([o, a], 1)
        lq = F.mse_loss(q1(x)[:, 0], y) + F.mse_loss(q2(x)[:, 0], y)
        oq.zero_grad()
        lq.backward()
        oq.step()
        na, lp = pi(o)
        x = torch.cat([o, na], 1)
        lpi = (alpha * lp - torch.min(q1(x), q2(x))[:, 0]).mean()
        op.zero_grad()
        lpi.backward()
        op.step()
        la = -(log_alpha * (lp.detach() - 1.0)).mean()
        oa.zero_grad()
        la.backward()
        oa.step()
        with torch.no_grad():
            for t, s in ((t1, q1), (t2, q2)):
                for pt, ps in zip(t.parameters(), s.parameters()):
                    pt.mul_(0.995).add_(0.005 * ps)

    print(f"torch sac batch 256: {rate(sac, 100):.0f} updates/s")


def jax_rates():
    import jax
    import jax.numpy as jnp

    print(f"jax {jax.__version__}, devices {jax.devices()}")

    def init(key, sizes):
        ps = []
        for i, o in zip(sizes[:-1], sizes[1:]):
            key, k = jax.random.split(key)
            b = 1 / jnp.sqrt(i)
            ps.append((jax.random.uniform(k, (i, o), minval=-b, maxval=b), jnp.zeros(o)))
        return ps

    def net(ps, x):
        for w, b in ps[:-1]:
            x = jax.nn.relu(x @ w + b)
        w, b = ps[-1]
        return x @ w + b

    def adam_init(p):
        z = jax.tree_util.tree_map(jnp.zeros_like, p)
        return (z, z, 0)

    def adam(p, g, s, lr=1e-3):
        m, v, t = s
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        p = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * (m / (1 - 0.9**t)) / (jnp.sqrt(v / (1 - 0.999**t)) + 1e-8), p, m, v)
        return p, (m, v, t)

    key = jax.random.PRNGKey(0)
    obs, nobs = jax.random.normal(key, (CAP, 4)), jax.random.normal(jax.random.PRNGKey(1), (CAP, 4))
    act = jax.random.randint(key, (CAP,), 0, 2)
    rew = jax.random.normal(jax.random.PRNGKey(2), (CAP,))
    term = jax.random.uniform(key, (CAP,)) < 0.05
    for batch in (64, 256):
        q = init(key, [4, H, H, 2])

        @jax.jit
        def dqn(q, qt, s, key):
            key, k = jax.random.split(key)
            i = jax.random.randint(k, (batch,), 0, CAP)
            y = rew[i] + 0.99 * (~term[i]) * net(qt, nobs[i]).max(1)

            def loss(q):
                pred = jnp.take_along_axis(net(q, obs[i]), act[i][:, None], 1)[:, 0]
                e = jnp.abs(pred - y)
                return jnp.mean(jnp.where(e < 1, 0.5 * e * e, e - 0.5))

            g = jax.grad(loss)(q)
            q, s = adam(q, g, s)
            return q, s, key

        st = [q, adam_init(q), key]

        def step():
            st[0], st[1], st[2] = dqn(st[0], q, st[1], st[2])
            jax.block_until_ready(st[0])

        print(f"jax dqn batch {batch}: {rate(step, 300):.0f} updates/s")

    pobs, pnobs = obs[:, :3], nobs[:, :3]
    pact = jax.random.uniform(key, (CAP, 1), minval=-2, maxval=2)

    def pi(a, o, k):
        out = net(a, o)
        mu, ls = out[:, :1], jnp.clip(out[:, 1:], -5, 2)
        e = jax.random.normal(k, mu.shape)
        u = mu + jnp.exp(ls) * e
        logp = (-0.5 * e * e - ls - 0.9189385).sum(1)
        logp = logp - (jnp.log(2.0) + 2 * (0.6931472 - u - jax.nn.softplus(-2 * u))).sum(1)
        return 2 * jnp.tanh(u), logp

    @jax.jit
    def sac(p, s, key):
        actor, q1, q2, t1, t2, la = p
        sq, sp, sa = s
        key, k0, k1, k2 = jax.random.split(key, 4)
        i = jax.random.randint(k0, (256,), 0, CAP)
        o, a, r, no, d = pobs[i], pact[i], rew[i], pnobs[i], term[i]
        alpha = jnp.exp(la)
        na, nlp = pi(actor, no, k1)
        x = jnp.concatenate([no, na], 1)
        y = r + 0.99 * (~d) * (jnp.minimum(net(t1, x), net(t2, x))[:, 0] - alpha * nlp)
        xa = jnp.concatenate([o, a], 1)

        def lq(qs):
            return jnp.mean((net(qs[0], xa)[:, 0] - y) ** 2) + jnp.mean((net(qs[1], xa)[:, 0] - y) ** 2)

        (q1, q2), sq = adam((q1, q2), jax.grad(lq)((q1, q2)), sq)

        def lpi(actor):
            na, lp = pi(actor, o, k2)
            x = jnp.concatenate([o, na], 1)
            return jnp.mean(alpha * lp - jnp.minimum(net(q1, x), net(q2, x))[:, 0]), lp

        g, lp = jax.grad(lpi, has_aux=True)(actor)
        actor, sp = adam(actor, g, sp)
        ga = jax.grad(lambda la: -jnp.mean(la * (lp - 1.0)))(la)
        la, sa = adam(la, ga, sa)
        t1 = jax.tree_util.tree_map(lambda t, q: 0.995 * t + 0.005 * q, t1, q1)
        t2 = jax.tree_util.tree_map(lambda t, q: 0.995 * t + 0.005 * q, t2, q2)
        return (actor, q1, q2, t1, t2, la), (sq, sp, sa), key

    actor = init(key, [3, H, H, 2])
    q1, q2 = init(jax.random.PRNGKey(3), [4, H, H, 1]), init(jax.random.PRNGKey(4), [4, H, H, 1])
    p = (actor, q1, q2, q1, q2, jnp.zeros(()))
    st = [p, (adam_init((q1, q2)), adam_init(actor), adam_init(jnp.zeros(()))), key]

    def step():
        st[0], st[1], st[2] = sac(st[0], st[1], st[2])
        jax.block_until_ready(st[0])

    print(f"jax sac batch 256: {rate(step, 100):.0f} updates/s")


def gemm_rate():
    """The best f32 matrix-product rate of this machine (torch, 2 threads), GFLOP/s."""
    import torch

    torch.set_num_threads(2)
    best = 0.0
    for n in (256, 512, 1024):
        a, b = torch.randn(n, n), torch.randn(n, n)
        reps = max(3, int(2e9 / (2 * n**3)))
        a @ b
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t) / 1e9)
    print(f"gemm f32 best: {best:.0f} GFLOP/s")


if __name__ == "__main__":
    {"torch": torch_rates, "jax": jax_rates, "gemm": gemm_rate}[sys.argv[1]]()
