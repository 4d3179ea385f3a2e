//! Tabular control on the grid world: the known-model programs (value iteration, policy
//! iteration, policy evaluation; `std.dp`) against values solved by hand and against a
//! value iteration written here in Rust on a transition table built from the map's text
//! (independent of the `.rlp` model, which is read off the environment's `step`); and the
//! programs that learn from transitions (online Q-learning, fitted Q-iteration on a
//! fixed batch) reaching the goal with values near the optimal ones.

mod common;

use rlpc::run::{self, Backend, Trainer};

/// Metrics or state, by name.
type Named<T> = Vec<(String, T)>;

/// Trains `examples/{name}` with `seed` and `--set` overrides for all of its iterations;
/// the last iteration's metrics and the final state, by name.
fn train(name: &str, seed: u64, settings: &[(&str, &str)]) -> (Named<f64>, Named<Vec<f64>>) {
    let c = run::compile(common::example_program(name, seed, settings), Backend::Jit).unwrap();
    let mut t = Trainer::new(&c).unwrap();
    for it in 0..c.program.iterations {
        t.step(it, None).unwrap();
    }
    let names = c.program.metrics.iter().map(|m| m.name.clone());
    let metrics = names.zip(t.metric_values()).collect();
    let state = t
        .state()
        .into_iter()
        .map(|(n, x)| (n, x.to_f64_vec()))
        .collect();
    (metrics, state)
}

fn metric(m: &[(String, f64)], name: &str) -> f64 {
    m.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no metric {name}: {m:?}"))
        .1
}

fn slot<'a>(s: &'a [(String, Vec<f64>)], name: &str) -> &'a [f64] {
    let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
    &s.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no state {name}: {names:?}"))
        .1
}

/// The grid world written out again from its documentation (`stdlib/env/gridworld.rlp`):
/// rows of `S . # G H`; actions up, right, down, left; a move into a wall or off the grid
/// stays; with probability `slip` the action is replaced by a uniformly drawn one; entering
/// G pays `goal`, entering H pays `hole`, both end the episode; any other step pays `step`.
struct Grid {
    cells: Vec<Vec<char>>,
    slip: f64,
    goal: f64,
    hole: f64,
    step: f64,
}

impl Grid {
    fn new(text: &str, slip: f64, goal: f64, hole: f64, step: f64) -> Grid {
        let cells = text.split("\\n").map(|r| r.chars().collect()).collect();
        Grid {
            cells,
            slip,
            goal,
            hole,
            step,
        }
    }
    fn rows(&self) -> usize {
        self.cells.len()
    }
    fn cols(&self) -> usize {
        self.cells[0].len()
    }
    fn at(&self, s: usize) -> char {
        self.cells[s / self.cols()][s % self.cols()]
    }
    fn terminal(&self, s: usize) -> bool {
        matches!(self.at(s), 'G' | 'H')
    }
    /// The cell action `a` leads to from `s`, deterministically.
    fn next(&self, s: usize, a: usize) -> usize {
        let (r, c) = ((s / self.cols()) as i64, (s % self.cols()) as i64);
        let (dr, dc) = [(-1, 0), (0, 1), (1, 0), (0, -1)][a];
        let r2 = (r + dr).clamp(0, self.rows() as i64 - 1) as usize;
        let c2 = (c + dc).clamp(0, self.cols() as i64 - 1) as usize;
        let t = r2 * self.cols() + c2;
        if self.at(t) == '#' { s } else { t }
    }
    fn reward(&self, t: usize) -> f64 {
        match self.at(t) {
            'G' => self.goal,
            'H' => self.hole,
            _ => self.step,
        }
    }
    /// q(s, a) = Σ_a' P(a' | a)·(reward(s') + γ·v(s')), v = 0 at terminal cells.
    fn q(&self, v: &[f64], s: usize, a: usize, gamma: f64) -> f64 {
        (0..4)
            .map(|b| {
                let pr = self.slip / 4.0 + if b == a { 1.0 - self.slip } else { 0.0 };
                let t = self.next(s, b);
                let vt = if self.terminal(t) { 0.0 } else { v[t] };
                pr * (self.reward(t) + gamma * vt)
            })
            .sum()
    }
    /// `sweeps` backups from zeros: the optimal values (`policy: None`) or those of the
    /// policy table `policy[s][a]`.
    fn values(&self, gamma: f64, sweeps: usize, policy: Option<&[[f64; 4]]>) -> Vec<f64> {
        let n = self.rows() * self.cols();
        let mut v = vec![0.0; n];
        for _ in 0..sweeps {
            v = (0..n)
                .map(|s| {
                    if self.terminal(s) {
                        return 0.0;
                    }
                    let qs = (0..4).map(|a| self.q(&v, s, a, gamma));
                    match policy {
                        None => qs.fold(f64::NEG_INFINITY, f64::max),
                        Some(pi) => qs.zip(pi[s]).map(|(q, p)| p * q).sum(),
                    }
                })
                .collect();
        }
        v
    }
}

/// The program's map, as `--set layout=…` writes it.
const SMALL: &str = "S..#\\n.#.G\\n....";

/// Shortest numbers of moves to G on SMALL, by hand (`#` walls, G the goal, row-major):
///   S . . #      4 3 2 #
///   . # . G      5 # 1 0
///   . . . .      4 3 2 1
/// (0,0) goes right, right, down, right; (1,0) has only (0,0) and (2,0) as neighbours,
/// both 4 away; (2,2) reaches G through (1,2) or (2,3). None for walls.
#[rustfmt::skip]
const DIST: [Option<u32>; 12] = [
    Some(4), Some(3), Some(2), None,
    Some(5), None, Some(1), Some(0),
    Some(4), Some(3), Some(2), Some(1),
];

fn close(got: &[f64], want: &[f64], tol: f64, walls: &[usize], what: &str) {
    for s in 0..want.len() {
        if walls.contains(&s) {
            continue;
        }
        assert!(
            (got[s] - want[s]).abs() <= tol,
            "{what}: cell {s}: got {}, want {} (got {got:?}, want {want:?})",
            got[s],
            want[s]
        );
    }
}

/// γ = 1 and every move (the last, into G, included) costs 1: the optimal value is minus
/// the number of moves on a shortest path, v*(s) = −d(s). The greedy policy reaches G from
/// S in 4 moves every time, so each episode returns −4.
#[test]
fn value_iteration_gives_minus_the_shortest_path_length() {
    let (m, s) = train(
        "value_iteration_gridworld.rlp",
        0,
        &[
            ("layout", &format!("\"{SMALL}\"")),
            ("slip", "0.0"),
            ("gamma", "1.0"),
            ("step_reward", "-1.0"),
            ("goal_reward", "-1.0"),
            ("iters", "20"),
        ],
    );
    let want: Vec<f64> = DIST.iter().map(|d| -(d.unwrap_or(0) as f64)).collect();
    close(slot(&s, "v"), &want, 1e-6, &[3, 5], "v*");
    assert_eq!(metric(&m, "v_start"), -4.0);
    assert_eq!(metric(&m, "return"), -4.0);
    assert_eq!(metric(&m, "success"), 1.0);
}

/// Goal pays 1, moves are free, γ = 0.9: the reward comes on the d-th move, discounted
/// d − 1 times, so v*(s) = 0.9^(d−1) (1 at G's neighbours, 0.729 at S).
#[test]
fn value_iteration_gives_the_discounted_goal_reward() {
    let (m, s) = train(
        "value_iteration_gridworld.rlp",
        0,
        &[
            ("layout", &format!("\"{SMALL}\"")),
            ("slip", "0.0"),
            ("gamma", "0.9"),
            ("goal_reward", "1.0"),
            ("step_reward", "0.0"),
            ("iters", "20"),
        ],
    );
    let want: Vec<f64> = DIST
        .iter()
        .map(|d| match d {
            Some(0) | None => 0.0,
            Some(d) => 0.9f64.powi(*d as i32 - 1),
        })
        .collect();
    close(slot(&s, "v"), &want, 1e-6, &[3, 5], "v*");
    assert!((metric(&m, "v_start") - 0.729).abs() < 1e-6);
    assert_eq!(metric(&m, "success"), 1.0);
}

/// A hole beside the path, a slip of 0.2 and a step cost: no hand solution, so the
/// reference is value iteration here, on the transition table written from the map.
const SLIPPERY: &str = "S..#\\n.#.G\\n..H.";
const SLIPPERY_SETTINGS: [(&str, &str); 5] = [
    ("slip", "0.2"),
    ("gamma", "0.95"),
    ("goal_reward", "1.0"),
    ("hole_reward", "-1.0"),
    ("step_reward", "-0.04"),
];

fn slippery() -> Grid {
    Grid::new(SLIPPERY, 0.2, 1.0, -1.0, -0.04)
}

fn with<'a>(extra: &[(&'a str, &'a str)], layout: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut s = vec![("layout", layout)];
    s.extend_from_slice(&SLIPPERY_SETTINGS);
    s.extend_from_slice(extra);
    s
}

#[test]
fn value_iteration_with_slip_matches_an_independent_solution() {
    let layout = format!("\"{SLIPPERY}\"");
    let (_, s) = train(
        "value_iteration_gridworld.rlp",
        0,
        &with(&[("iters", "400")], &layout),
    );
    let want = slippery().values(0.95, 2000, None);
    close(slot(&s, "v"), &want, 1e-4, &[3, 5], "v* with slip 0.2");
}

/// Policy iteration reaches the same optimal values, and its policy stops changing.
#[test]
fn policy_iteration_with_slip_matches_an_independent_solution() {
    let layout = format!("\"{SLIPPERY}\"");
    let (m, s) = train(
        "policy_iteration_gridworld.rlp",
        0,
        &with(&[("iters", "10"), ("sweeps", "200")], &layout),
    );
    let want = slippery().values(0.95, 2000, None);
    close(slot(&s, "v"), &want, 1e-4, &[3, 5], "v* with slip 0.2");
    assert_eq!(metric(&m, "changed"), 0.0);
    assert!(metric(&m, "success") > 0.5);
}

/// One round of policy iteration evaluates the uniformly random policy it starts from.
#[test]
fn policy_evaluation_of_the_uniform_policy_matches_an_independent_solution() {
    let layout = format!("\"{SLIPPERY}\"");
    let (_, s) = train(
        "policy_iteration_gridworld.rlp",
        0,
        &with(&[("iters", "1"), ("sweeps", "600")], &layout),
    );
    let uniform = vec![[0.25; 4]; 12];
    let want = slippery().values(0.95, 2000, Some(&uniform));
    close(
        slot(&s, "v"),
        &want,
        1e-4,
        &[3, 5],
        "v of the uniform policy",
    );
}

/// The learning programs' map (their default) and its optimal value at S.
const FIVE: &str = "S..H.\\n.#...\\n...#.\\nH.#..\\n...HG";

fn five_v_start() -> f64 {
    Grid::new(FIVE, 0.1, 1.0, -1.0, -0.01).values(0.95, 2000, None)[0]
}

/// Online Q-learning: the greedy policy of the learned table reaches G in at least 80 % of
/// the last episodes of 32 environments (a random walk from S almost never does; the
/// optimal policy's rate is about 97 % under the slip) on two of seeds 0–2, and
/// max_a q(S, a) is within 0.15 of v*(S) (q moves by steps of 0.1 toward noisy targets).
#[test]
fn online_q_learning_reaches_the_goal() {
    let v_star = five_v_start();
    let mut reached = 0;
    let mut seen = vec![];
    for seed in 0..3 {
        let (m, _) = train("q_learning_gridworld.rlp", seed, &[]);
        let (success, v) = (metric(&m, "greedy_success"), metric(&m, "v_start"));
        seen.push((success, v));
        if success >= 0.8 && (v - v_star).abs() < 0.15 {
            reached += 1;
        }
        if reached == 2 {
            return;
        }
    }
    panic!("greedy success and q(S) per seed: {seen:?}; v*(S) = {v_star}");
}

/// Fitted Q-iteration on one batch of random-policy transitions: the fixed point is the
/// optimal value of the batch's empirical model, so max_a q(S, a) lands near v*(S), and
/// its greedy policy reaches G in most episodes.
#[test]
fn fitted_q_iteration_on_a_fixed_batch_reaches_the_goal() {
    let v_star = five_v_start();
    for seed in 0..2 {
        let (m, _) = train("fitted_q_gridworld.rlp", seed, &[]);
        let (success, v) = (metric(&m, "success"), metric(&m, "v_start"));
        assert!(success >= 0.85, "seed {seed}: success {success}");
        assert!(
            (v - v_star).abs() < 0.1,
            "seed {seed}: q(S) {v}, v*(S) {v_star}"
        );
        assert_eq!(metric(&m, "change"), 0.0, "seed {seed}: not converged");
    }
}
