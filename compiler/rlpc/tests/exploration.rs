//! Exploration on the long chain (`stdlib/env/chain.rlp`): the environment's steps
//! against hand-computed moves; count and RND bonuses solving a 20-cell chain where
//! ε-greedy Q-learning and ε-greedy DQN never reach the end; and the ablation that shows
//! a table's optimistic start doing the exploring.

mod common;

use common::final_metrics;
use rlpc::run::{self, Backend, Trainer};

#[test]
fn the_chain_moves_right_only_on_each_cells_own_action() {
    // Walk a 6-cell chain with the right action of every cell, but the third step.
    let src = "use std.env.chain\n\
               env = chain(length: 6, envs: 1)\n\
               right = chain.right_action(6)\n\
               cell = zeros([1], dtype: \"i32\")\n\
               train iterations: 6 {\n\
               \x20 sample b = rollout(env, o -> { sample: () -> where(iteration == 2, 1 - take(right, cell), take(right, cell)) }, steps: 1)\n\
               \x20        cell <- i32(b.cell[0])\n\
               \x20 log    at = mean(b.cell[0]), r = mean(b.reward[0]), end = mean(f32(b.terminated[0]))\n\
               }\n";
    let (p, _) = rlpc::front_end_source("chain.rlp", src, 0)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap();
    let c = run::compile(p, Backend::Jit).unwrap();
    let mut t = Trainer::new(&c).unwrap();
    let mut rows = vec![];
    for it in 0..6 {
        t.step(it, None).unwrap();
        rows.push(t.metric_values());
    }
    let cells: Vec<f64> = rows.iter().map(|r| r[0]).collect();
    // Right, right, then the other action drops back to cell 0, then right three times.
    assert_eq!(cells, [1.0, 2.0, 0.0, 1.0, 2.0, 3.0]);
    let step = -0.01 / 6.0;
    assert!(
        (rows[0][1] - step).abs() < 1e-7,
        "a step right costs 0.01/length"
    );
    assert_eq!(rows[2][1], 0.0, "a drop back costs nothing");
    assert!(
        rows.iter().all(|r| r[2] == 0.0),
        "nothing ends before the last cell"
    );
}

#[test]
fn a_count_bonus_solves_the_long_chain_where_epsilon_greedy_does_not() {
    for seed in [0, 1] {
        let bonus = final_metrics(
            "count_bonus_chain.rlp",
            seed,
            &[("iters", "2000")],
            &["reached", "success", "cells"],
        );
        assert_eq!(bonus, [1.0, 1.0, 20.0], "count bonus, seed {seed}");
        let eps = final_metrics(
            "count_bonus_chain.rlp",
            seed,
            &[("iters", "5000"), ("beta", "0.0"), ("epsilon", "0.1")],
            &["reached", "cells"],
        );
        assert_eq!(eps[0], 0.0, "ε-greedy reached the end, seed {seed}");
        assert!(
            eps[1] < 12.0,
            "ε-greedy visited {} cells, seed {seed}",
            eps[1]
        );
    }
}

#[test]
fn random_network_distillation_solves_the_long_chain() {
    for seed in [0, 1] {
        let m = final_metrics(
            "rnd_chain.rlp",
            seed,
            &[("iters", "2000")],
            &["reached", "success", "cells"],
        );
        assert_eq!(m, [1.0, 1.0, 20.0], "seed {seed}");
    }
}

#[test]
fn on_a_table_the_bonus_needs_an_optimistic_start() {
    // The ablation behind docs/benchmarks.md: the bonus on a table started at 0 never
    // tries the other action, so it never reaches the end.
    let m = final_metrics(
        "count_bonus_chain.rlp",
        0,
        &[("iters", "2000"), ("optimism", "0.0")],
        &["reached", "cells"],
    );
    assert_eq!(m[0], 0.0);
    assert!(m[1] < 10.0, "{} cells", m[1]);
}

#[test]
fn a_count_bonus_lets_dqn_walk_the_chain_where_epsilon_greedy_dqn_does_not() {
    let bonus = final_metrics(
        "count_bonus_dqn_chain.rlp",
        0,
        &[("iters", "7000")],
        &["reached", "success", "cells"],
    );
    assert_eq!(bonus, [1.0, 1.0, 20.0], "DQN with the count bonus");
    let eps = final_metrics(
        "count_bonus_dqn_chain.rlp",
        0,
        &[("beta", "0.0")],
        &["reached"],
    );
    assert_eq!(eps[0], 0.0, "ε-greedy DQN reached the end");
}

#[test]
fn bootstrapped_heads_walk_the_chain_without_a_bonus() {
    let m = final_metrics(
        "bootstrapped_dqn_chain.rlp",
        0,
        &[],
        &["reached", "success", "cells"],
    );
    assert_eq!(m, [1.0, 1.0, 20.0]);
}

#[test]
fn an_ensemble_disagreement_bonus_reaches_the_end_of_the_chain() {
    // Seed 1 (the bonus reaches the end on 4 of seeds 0-4; see docs/benchmarks.md).
    let m = final_metrics("disagreement_dqn_chain.rlp", 1, &[], &["reached", "cells"]);
    assert_eq!(m, [1.0, 20.0]);
}

#[test]
fn simhash_reads_the_projections_signs_as_bits() {
    use rlp_ir::{DType, Tensor, TensorType};
    use rlp_runtime::Executable;
    use rlpc::sema::Modules;
    use rlpc::sema::function::{FnArg, lower_function};
    let src = "use std.explore.{simhash}\nfn codes(o: [B, 2], p: [2, 3]) { simhash(o, p) }\n";
    let (m, _) = Modules::load_source("w.rlp", src)
        .map_err(|(_, d)| d[0].message.clone())
        .unwrap();
    let args = vec![
        FnArg::Tensor(TensorType::new(DType::F32, vec![3, 2])),
        FnArg::Tensor(TensorType::new(DType::F32, vec![2, 3])),
    ];
    let (g, _) = lower_function(&m, "w.rlp", "codes", args, 0).unwrap();
    let inputs = [
        Tensor::from_f64(DType::F32, &[3, 2], &[1.0, -1.0, -1.0, 2.0, 3.0, 3.0]),
        Tensor::from_f64(DType::F32, &[2, 3], &[1.0, 0.0, 1.0, 0.0, 1.0, 1.0]),
    ];
    let jit = rlp_jit::compile(&run::prepare(&g).unwrap(), &rlp_jit::JitOptions::default())
        .unwrap()
        .run(&inputs)
        .unwrap();
    let interp = rlp_ir::interp::Interpreter::new(g)
        .unwrap()
        .run(&inputs)
        .unwrap();
    // (1, -1) → bits (1, 0, 0) = 1; (-1, 2) → (0, 1, 1) = 6; (3, 3) → (1, 1, 1) = 7.
    assert_eq!(jit[0].to_f64_vec(), [1.0, 6.0, 7.0]);
    assert_eq!(interp[0].to_f64_vec(), [1.0, 6.0, 7.0]);
}
