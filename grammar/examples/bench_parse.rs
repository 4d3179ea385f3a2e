//! Rough timing of `parse` on a megabyte of statements:
//! `cargo run --release --example bench_parse [which]`.
use std::time::Instant;

fn main() {
    let lines = [
        "loss = mean((q1(b.obs, b.action) - stop(y)) ** 2) + 0.5 * f(x, k: 3)[1:, :-1]\n",
        "x = 1\n",
        "y = a + b * c - d / e\n",
    ];
    let which: Option<usize> = std::env::args().nth(1).and_then(|a| a.parse().ok());
    let size: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds = if size < 1_000_000 { 1 } else { 3 };
    for (i, line) in lines.iter().enumerate() {
        if which.is_some_and(|w| w != i) {
            continue;
        }
        let src = line.repeat(size / line.len());
        for _ in 0..rounds {
            let t = Instant::now();
            let m = rlp_syntax::parse(&src).expect("parses");
            println!(
                "{:>8.1} ms  {} items of {:?}",
                t.elapsed().as_secs_f64() * 1e3,
                m.items.len(),
                line.trim()
            );
        }
    }
}
