//! Parses the given `.rlp` files and reports the first error of each:
//! `cargo run --release -p rlp-syntax --example parse_files -- FILE...`.
fn main() {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        let src = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{path}: {e}");
                failed = true;
                continue;
            }
        };
        match rlp_syntax::parse(&src) {
            Ok(m) => println!("{path}: ok, {} items", m.items.len()),
            Err(e) => {
                failed = true;
                let (line, col) = rlp_syntax::line_col(&src, e.span.start as usize);
                println!("{path}:{line}:{col}: {}", e.message);
                if let Some(h) = e.hint {
                    println!("  help: {h}");
                }
            }
        }
    }
    std::process::exit(i32::from(failed));
}
