//! Monte-Carlo tree search (`uct` in `stdlib/plan.rlp`): on a small deterministic
//! problem it picks the first action a brute-force enumeration in Rust picks, from every
//! root state; on a grid it takes a shortest path; the root's children share exactly the
//! simulations; JIT and interpreter agree bit for bit; and acting by UCT from
//! `env.state` balances CartPole.

mod common;

use rlp_ir::{DType, Tensor, TensorType};
use rlpc::run::Backend;
use rlpc::sema::function::FnArg;

/// Cells of the chain problem, actions, and its horizon.
const CELLS: usize = 6;
const ACTIONS: usize = 3;
const HORIZON: usize = 4;

/// The reward of action `a` in cell `s`: a fixed table in [0, 1).
fn reward(s: usize, a: usize) -> f64 {
    let mut x = ((s * ACTIONS + a) as u64 + 7).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    ((x % 1000) as f64) / 1000.0
}

/// Where action `a` leads from cell `s`. Entering the last cell ends the episode.
fn next(s: usize, a: usize) -> usize {
    (s * 2 + a + 1) % CELLS
}

/// The best total reward from `s` with `left` steps to go, by enumerating every action
/// sequence.
fn best(s: usize, left: usize) -> f64 {
    if left == 0 {
        return 0.0;
    }
    (0..ACTIONS)
        .map(|a| {
            let s2 = next(s, a);
            let tail = if s2 == CELLS - 1 {
                0.0
            } else {
                best(s2, left - 1)
            };
            reward(s, a) + tail
        })
        .fold(f64::MIN, f64::max)
}

/// The chain problem as an `.rlp` step over states (cell, time), and the searches.
fn source() -> String {
    let table: Vec<String> = (0..CELLS * ACTIONS)
        .map(|k| format!("{:.3}", reward(k / ACTIONS, k % ACTIONS)))
        .collect();
    format!(
        r#"
use std.plan.{{uct}}
use std.env.gridworld

/// A deterministic chain: cell s, action a → cell (2s + a + 1) mod {CELLS}, reward from a
/// table; the episode ends after {HORIZON} steps or on entering cell {last}.
fn chain(s: [N, 2] i32, a: [N] i32) {{
  cell = s[:, 0]
  nxt = (cell * 2 + a + 1) % {CELLS}
  time = s[:, 1] + 1
  {{
    state: stack([nxt, time], axis: -1),
    reward: take(f32([{table}]), cell * {ACTIONS} + a),
    terminated: time >= {HORIZON} or nxt == {last},
  }}
}}

fn chain_uct(s: [N, 2] i32) {{
  p = uct(chain, s, {ACTIONS}, 600, depth: 6, rollout: 4, c: 1.0)
  (p.action, p.visits, p.q)
}}

fn chain_small(s: [N, 2] i32) {{
  p = uct(chain, s, {ACTIONS}, 12, depth: 3, rollout: 3, c: 1.0, gamma: 0.9)
  (p.action, p.visits, p.q)
}}

fn grid_step(s: [N, 1] i32, a: [N] i32) {{
  gridworld.step(s, a, [[4, 0, 0, 1], [0, 1, 0, 2], [0, 0, 0, 0]])
}}

fn grid_uct(s: [N, 1] i32) {{
  p = uct(grid_step, s, 4, 300, depth: 12, rollout: 12, c: 0.5, gamma: 0.9)
  (p.action, p.visits, p.q)
}}
"#,
        last = CELLS - 1,
        table = table.join(", "),
    )
}

/// `name` from `source()` run on one [N, width] i32 input: its outputs as f64s.
fn search(name: &str, input: &[f64], width: usize, backend: Backend) -> Vec<Vec<f64>> {
    let n = input.len() / width;
    let ty = TensorType::new(DType::I32, vec![n, width]);
    let g = common::function_graph("t.rlp", &source(), name, vec![FnArg::Tensor(ty)], 3);
    let x = Tensor::from_f64(DType::I32, &[n, width], input);
    common::run_graph(g, backend, &[x])
}

#[test]
fn uct_picks_the_first_action_of_an_exhaustive_search() {
    // Every cell but the absorbing one, at time 0.
    let roots: Vec<usize> = (0..CELLS - 1).collect();
    let input: Vec<f64> = roots.iter().flat_map(|&s| [s as f64, 0.0]).collect();
    let out = search("chain_uct", &input, 2, Backend::Jit);
    for (i, &s) in roots.iter().enumerate() {
        let q: Vec<f64> = (0..ACTIONS)
            .map(|a| {
                let s2 = next(s, a);
                let tail = if s2 == CELLS - 1 {
                    0.0
                } else {
                    best(s2, HORIZON - 1)
                };
                reward(s, a) + tail
            })
            .collect();
        let want = (0..ACTIONS)
            .max_by(|&a, &b| q[a].partial_cmp(&q[b]).unwrap())
            .unwrap();
        let visits = &out[1][i * ACTIONS..(i + 1) * ACTIONS];
        assert_eq!(
            out[0][i], want as f64,
            "root {s}: exhaustive values {q:?}, UCT visits {visits:?}"
        );
        assert_eq!(visits.iter().sum::<f64>(), 600.0, "root {s}: {visits:?}");
        // The chosen action's value is the optimum (well within the table's spacing).
        let got = out[2][i * ACTIONS + want];
        assert!(
            (got - q[want]).abs() < 0.1,
            "root {s}: UCT value {got} vs {}",
            q[want]
        );
    }
}

/// The grid of `grid_step`: 0 free, 1 wall, 2 goal, 4 start.
const GRID: [[u8; 4]; 3] = [[4, 0, 0, 1], [0, 1, 0, 2], [0, 0, 0, 0]];

/// Where action `a` (up, right, down, left) leads from `cell`: walls and edges block.
fn grid_move(cell: usize, a: usize) -> usize {
    let (r, c) = ((cell / 4) as i64, (cell % 4) as i64);
    let (dr, dc) = [(-1, 0), (0, 1), (1, 0), (0, -1)][a];
    let t = ((r + dr).clamp(0, 2) * 4 + (c + dc).clamp(0, 3)) as usize;
    if GRID[t / 4][t % 4] == 1 { cell } else { t }
}

/// Steps to the goal from each cell, by relaxing until nothing changes.
fn grid_distances() -> [Option<usize>; 12] {
    let mut dist = [None; 12];
    for (cell, d) in dist.iter_mut().enumerate() {
        if GRID[cell / 4][cell % 4] == 2 {
            *d = Some(0);
        }
    }
    for _ in 0..12 {
        for cell in 0..12 {
            if GRID[cell / 4][cell % 4] != 1 && dist[cell].is_none() {
                let d = (0..4).filter_map(|a| dist[grid_move(cell, a)]).min();
                dist[cell] = d.map(|d| d + 1);
            }
        }
    }
    dist
}

#[test]
fn uct_takes_a_shortest_path_on_a_grid() {
    let d = grid_distances();
    let after = |cell: usize, a: usize| d[grid_move(cell, a)].unwrap();
    // Free cells whose best move is unique.
    let roots: Vec<usize> = (0..12)
        .filter(|&c| matches!(GRID[c / 4][c % 4], 0 | 4))
        .filter(|&c| {
            let m = (0..4).map(|a| after(c, a)).min().unwrap();
            (0..4).filter(|&a| after(c, a) == m).count() == 1
        })
        .collect();
    assert!(roots.len() >= 5, "cells to test: {roots:?}");
    let input: Vec<f64> = roots.iter().map(|&c| c as f64).collect();
    let out = search("grid_uct", &input, 1, Backend::Jit);
    for (i, &c) in roots.iter().enumerate() {
        let want = (0..4).min_by_key(|&a| after(c, a)).unwrap();
        let visits = &out[1][i * 4..(i + 1) * 4];
        assert_eq!(
            out[0][i], want as f64,
            "cell {c}: shortest-path move {want}, visits {visits:?}"
        );
        assert_eq!(visits.iter().sum::<f64>(), 300.0, "cell {c}: {visits:?}");
    }
}

#[test]
fn uct_is_the_same_on_the_jit_and_the_interpreter() {
    let input = [0.0, 0.0, 1.0, 0.0, 3.0, 2.0];
    let a = search("chain_small", &input, 2, Backend::Interp);
    let b = search("chain_small", &input, 2, Backend::Jit);
    assert_eq!(a, b);
    for i in 0..3 {
        let v = &a[1][i * ACTIONS..(i + 1) * ACTIONS];
        assert_eq!(v.iter().sum::<f64>(), 12.0, "root {i}: {v:?}");
    }
}

#[test]
fn uct_with_the_true_dynamics_balances_cartpole() {
    // Four CartPoles for one full episode (500 steps), 100 simulations a step.
    for seed in [0, 1] {
        let ret = common::last_return("mcts_cartpole.rlp", seed, &[("iters", "500")]);
        assert!(ret >= 475.0, "seed {seed}: mean return {ret}");
    }
}
