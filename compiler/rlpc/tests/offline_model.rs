//! Model-based offline RL on the shipped Pendulum datasets: the programs learn from the
//! logged transitions and a dynamics ensemble fitted to them, never from the
//! environment (which only runs the evaluation episodes).

mod common;

/// The evaluations in a `return` history: the programs evaluate every 500 updates from
/// iteration 0, and the metric holds the last one in between.
fn evaluations(name: &str, seed: u64, settings: &[(&str, &str)]) -> Vec<f64> {
    common::metric_history(name, seed, settings, &["return"])
        .remove(0)
        .into_iter()
        .step_by(500)
        .collect()
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// COMBO on the medium data (return ≈ -424; random ≈ -1158): the mean of the last three
/// evaluations (after 4,500, 5,000 and 5,500 updates) beats the data's own return by a
/// margin (-183 on seed 0 when written; -138 and -230 on seeds 1 and 2).
#[test]
fn combo_beats_the_medium_data_it_learns_from() {
    let h = evaluations("combo_pendulum.rlp", 0, &[("iters", "6000")]);
    assert_eq!(h.len(), 12);
    assert!(mean(&h[h.len() - 3..]) >= -300.0, "{h:?}");
}

/// MOPO on the random data (return ≈ -1158): the mean of the last three evaluations
/// (after 4,500, 5,000 and 5,500 updates) swings the pendulum up and holds it (-157 on
/// seed 0 when written). On the medium data it does not beat the data
/// (docs/datasets.md), so that is not asserted.
#[test]
fn mopo_learns_from_random_torques() {
    let h = evaluations("mopo_pendulum.rlp", 0, &[("iters", "6000")]);
    assert_eq!(h.len(), 12);
    assert!(mean(&h[h.len() - 3..]) >= -300.0, "{h:?}");
}
