mod common;
#[test]
fn scratch() {
    let src = std::fs::read_to_string("/tmp/scratch.rlp").unwrap();
    for case in src.split("\n----\n") {
        let case = case.replace("\\n", "\n");
        match rlp_syntax::parse(&case) {
            Ok(m) => {
                println!("{:?}\n  OK {}", case, common::items(&m));
                common::check_spans(&m, &case);
            }
            Err(e) => println!(
                "{:?}\n  ERR {} @{}..{} {:?} hint={:?}",
                case,
                e.message,
                e.span.start,
                e.span.end,
                &case[e.span.range()],
                e.hint
            ),
        }
    }
}
