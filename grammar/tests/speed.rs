//! Parsing is fast and linear in the input. A test binary of its own, so that no other
//! test runs at the same time; run it with `--release` (in a debug build only gross
//! regressions are caught).

use std::time::{Duration, Instant};

use rlp_syntax::parse;

/// The best of three runs, to be fair to a busy machine.
fn best_time(src: &str) -> Duration {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            let m = parse(src).expect("parses");
            let took = start.elapsed();
            drop(m);
            took
        })
        .min()
        .unwrap()
}

fn limit() -> Duration {
    if cfg!(debug_assertions) {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(1)
    }
}

const LINES: &[&str] = &[
    "x = 1\n",
    "y = a + b * c - d / e\n",
    "loss = mean((q1(b.obs, b.action) - stop(y)) ** 2) + 0.5 * f(x, k: 3)[1:, :-1]  # comment\n",
    "  fit q = reward_to_go(batch.reward, batch.done, gamma: 0.99); log return = batch.ret.mean()\n",
];

// One test, so that the timings do not compete with each other.
#[test]
fn a_megabyte_of_simple_statements_parses_in_well_under_a_second_and_linearly() {
    for line in LINES {
        let small = best_time(&line.repeat((1 << 18) / line.len()));
        let large = best_time(&line.repeat((1 << 20) / line.len()));
        assert!(large < limit(), "1 MiB of {:?} took {large:?}", line.trim());
        // Four times the input: allow for noise, but not for quadratic growth (16x).
        let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-6);
        eprintln!(
            "{:?}: 256 KiB {small:?}, 1 MiB {large:?}, ratio {ratio:.1}",
            line.trim()
        );
        assert!(
            ratio < 8.0,
            "{:?}: 256 KiB {small:?}, 1 MiB {large:?}",
            line.trim()
        );
    }
}
