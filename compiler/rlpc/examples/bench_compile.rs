//! Compile time of every example, parse → kernels ready (best of 3, JIT backend).
//!
//!     cargo run --release -p rlpc --example bench_compile
//!
//! Examples that need something outside the repository (Python with gymnasium for
//! `gym(…)` environments) are reported as skipped when it is missing.

use std::time::Instant;

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rlp"))
        .collect();
    files.sort();
    println!(
        "{:<36} {:>10} {:>12} {:>10}",
        "example", "front ms", "kernels ms", "total ms"
    );
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let mut best: Option<(f64, f64)> = None;
        for _ in 0..3 {
            let t0 = Instant::now();
            let (p, _) = match rlpc::front_end(&f, 0) {
                Ok(x) => x,
                Err((d, s)) => {
                    let first = rlpc::diag::render_plain(&d, &s)
                        .lines()
                        .find(|l| l.contains('×'))
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    println!("{name:<36} skipped: {first}");
                    best = None;
                    break;
                }
            };
            let front = t0.elapsed().as_secs_f64();
            let c = rlpc::run::compile(p, rlpc::run::Backend::Jit).unwrap();
            let total = front + c.compile_s;
            if best.is_none_or(|(_, t)| total < t) {
                best = Some((front, total));
            }
        }
        if let Some((front, total)) = best {
            println!(
                "{name:<36} {:>10.1} {:>12.1} {:>10.1}",
                front * 1e3,
                (total - front) * 1e3,
                total * 1e3
            );
        }
    }
}
