//! `reshape` with an inferred size and `ceil`, run through `rlpc exec` on both backends,
//! and the errors of a shape that cannot be inferred.

use rlp_ir::{DType, Tensor};
use rlpc::exec::{ArgValue, exec};
use rlpc::run::Backend;

const LIB: &str = r#"
/// Rows of three, however many there are.
pub fn rows_of_three(x: [N]) { reshape(x, [-1, 3]) }
pub fn up(x: [N]) { ceil(x) }
pub fn two_unknowns(x: [N]) { reshape(x, [-1, -1]) }
pub fn no_fit(x: [N]) { reshape(x, [-1, 4]) }
pub fn negative(x: [N]) { zeros([2, -3]) }
"#;

fn lib(test: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rlpc-shape-builtins-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let f = d.join("shapes.rlp");
    std::fs::write(&f, LIB).unwrap();
    f
}

fn x(values: &[f64]) -> Vec<(String, ArgValue)> {
    vec![(
        "x".into(),
        ArgValue::Tensor(Tensor::from_f64(DType::F32, &[values.len()], values)),
    )]
}

#[test]
fn reshape_infers_the_size_written_as_minus_one() {
    let f = lib("infer");
    let vals: Vec<f64> = (0..12).map(f64::from).collect();
    for backend in [Backend::Interp, Backend::Jit] {
        let out = exec(&f, "rows_of_three", x(&vals), backend).unwrap();
        assert_eq!(out[0].1.shape(), &[4, 3], "{backend:?}");
        assert_eq!(out[0].1.to_f64_vec(), vals, "{backend:?}");
    }
}

#[test]
fn ceil_rounds_up() {
    let f = lib("ceil");
    let vals = [-1.5, -1.0, -0.2, 0.0, 0.2, 1.0, 2.5];
    for backend in [Backend::Interp, Backend::Jit] {
        let out = exec(&f, "up", x(&vals), backend).unwrap();
        let want: Vec<f64> = vals.iter().map(|v: &f64| v.ceil()).collect();
        assert_eq!(out[0].1.to_f64_vec(), want, "{backend:?}");
    }
}

#[test]
fn a_size_that_cannot_be_inferred_is_an_error_at_the_shape() {
    let f = lib("errors");
    let vals: Vec<f64> = (0..6).map(f64::from).collect();
    let two = exec(&f, "two_unknowns", x(&vals), Backend::Interp).unwrap_err();
    assert!(two.contains("only one `-1`"), "{two}");
    let no_fit = exec(&f, "no_fit", x(&vals), Backend::Interp).unwrap_err();
    assert!(
        no_fit.contains("cannot reshape 6 elements into [-1, 4]"),
        "{no_fit}"
    );
    let negative = exec(&f, "negative", x(&vals), Backend::Interp).unwrap_err();
    assert!(negative.contains("found a size of -3"), "{negative}");
}
