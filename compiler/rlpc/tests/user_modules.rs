//! A user's own estimator in their own file is a first-class citizen: imported with
//! `use "./file.rlp"`, checked like the stdlib, runnable alone with `rlpc exec`.

use rlp_ir::{DType, Tensor};
use rlpc::exec::{ArgValue, exec};
use rlpc::run::{self, Backend, Trainer};
use std::path::PathBuf;

const MINE: &str = r#"
/// One-step TD residuals r + γ V(s') − V(s), with V(s') taken as 0 after termination.
pub fn td_residual(r: [T, N], v: [T+1, N], terminated: [T, N] bool, gamma: float = 0.99) -> [T, N] {
  r + gamma * where(terminated, 0.0, v[1:]) - v[:-1]
}
"#;

const MAIN: &str = r#"
use std.env.cartpole
use "./my_estimators.rlp".{td_residual}

env    = cartpole(envs: 4)
policy = categorical(mlp(env.obs, [16], env.actions))
value  = mlp(env.obs, [16], 1)

train iterations: 3 {
  sample batch = rollout(env, policy, steps: 8)
  fit    v     = value(batch.obs)[:, :, 0]
         v2    = concat([v, value(batch.next_obs[7:])[:, :, 0]], axis: 0)
         delta = td_residual(batch.reward, stop(v2), batch.terminated)
  improve minimize policy_gradient(policy, batch, delta) with adam(lr: 1e-3)
  log td = mean(delta)
}
"#;

/// A directory of the test's own (tests run in parallel) holding the user's module.
fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rlpc-user-modules-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("my_estimators.rlp"), MINE).unwrap();
    d
}

#[test]
fn a_user_estimator_is_used_like_a_stdlib_one() {
    let d = dir("used");
    let src = MAIN.replace(
        "use std.env.cartpole",
        "use std.env.cartpole\nuse std.losses.{policy_gradient}",
    );
    std::fs::write(d.join("main.rlp"), &src).unwrap();
    let (p, _) = rlpc::front_end(&d.join("main.rlp"), 0)
        .map_err(|(e, s)| rlpc::diag::render_plain(&e, &s))
        .unwrap();
    let c = run::compile(p, Backend::Jit).unwrap();
    let mut t = Trainer::new(&c).unwrap();
    for it in 0..3 {
        t.step(it, None).unwrap();
    }
    assert!(t.metric_values()[0].is_finite());
}

#[test]
fn a_user_estimator_gets_shape_errors_at_the_call() {
    let d = dir("shapes");
    let bad = "use \"./my_estimators.rlp\".{td_residual}\nx = td_residual(zeros([5, 2]), zeros([5, 2]), zeros([5, 2]) > 0.0)\ntrain iterations: 1 { log a = 1.0 }\n";
    std::fs::write(d.join("bad.rlp"), bad).unwrap();
    let Err((diags, sources)) = rlpc::front_end(&d.join("bad.rlp"), 0) else {
        panic!("must not compile")
    };
    let text = rlpc::diag::render_plain(&diags, &sources);
    assert!(
        text.contains("shape-mismatch") && text.contains("T + 1"),
        "{text}"
    );
    assert!(
        text.contains("my_estimators.rlp"),
        "the declaration in the user's file is shown:\n{text}"
    );
}

/// A runtime error in `rlpc exec` names the line of the op that failed, on both
/// backends, as `rlpc run`'s errors do.
#[test]
fn an_exec_runtime_error_names_its_line() {
    let d = dir("exec-error");
    let file = d.join("pick.rlp");
    std::fs::write(
        &file,
        "pub fn pick(x: [N]) -> [N] {\n  take(x, i32(indices(N)) + 1)\n}\n",
    )
    .unwrap();
    for backend in [Backend::Interp, Backend::Jit] {
        let x = ArgValue::Tensor(Tensor::from_f64(DType::F32, &[4], &[0.0, 1.0, 2.0, 3.0]));
        let e = exec(&file, "pick", vec![("x".into(), x)], backend).unwrap_err();
        assert!(
            e.contains("out of range 0..4") && e.contains("pick.rlp:2:3"),
            "{backend:?}: {e}"
        );
    }
}

#[test]
fn exec_runs_one_function_on_npy_inputs() {
    let d = dir("exec");
    let (t, n) = (3, 2);
    let r: Vec<f64> = (0..t * n).map(|i| i as f64).collect();
    let v: Vec<f64> = (0..(t + 1) * n).map(|i| 0.5 * i as f64).collect();
    let term = vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0];
    let args = [
        (
            "r".to_string(),
            ArgValue::Tensor(Tensor::from_f64(DType::F32, &[t, n], &r)),
        ),
        (
            "v".to_string(),
            ArgValue::Tensor(Tensor::from_f64(DType::F32, &[t + 1, n], &v)),
        ),
        (
            "terminated".to_string(),
            ArgValue::Tensor(Tensor::from_f64(DType::Bool, &[t, n], &term)),
        ),
        ("gamma".to_string(), ArgValue::parse("0.5").unwrap()),
    ];
    for backend in [Backend::Interp, Backend::Jit] {
        let out = exec(
            &d.join("my_estimators.rlp"),
            "td_residual",
            args.iter()
                .map(|(k, a)| (k.clone(), clone_arg(a)))
                .collect(),
            backend,
        )
        .unwrap();
        let got = out[0].1.to_f64_vec();
        for i in 0..t * n {
            let next = if term[i] == 1.0 { 0.0 } else { v[i + n] };
            let want = r[i] + 0.5 * next - v[i];
            assert!(
                (got[i] - want).abs() < 1e-6,
                "{backend:?} element {i}: {} vs {want}",
                got[i]
            );
        }
    }
    let missing = exec(
        &d.join("my_estimators.rlp"),
        "td_residual",
        vec![],
        Backend::Interp,
    )
    .err()
    .unwrap();
    assert!(missing.contains("needs the argument `r`"), "{missing}");
    let unknown = exec(&d.join("my_estimators.rlp"), "gae", vec![], Backend::Interp)
        .err()
        .unwrap();
    assert!(unknown.contains("td_residual"), "{unknown}");
}

fn clone_arg(a: &ArgValue) -> ArgValue {
    match a {
        ArgValue::Tensor(t) => ArgValue::Tensor(t.clone()),
        ArgValue::Int(i) => ArgValue::Int(*i),
        ArgValue::Float(f) => ArgValue::Float(*f),
    }
}

/// `exec` passes arguments by name: a defaulted parameter before a given one takes its
/// default, and a name the function does not have is an error naming it.
#[test]
fn exec_leaves_any_defaulted_parameter_to_its_default() {
    let d = dir("exec-defaults");
    let file = d.join("lib.rlp");
    std::fs::write(
        &file,
        "pub fn affine(x, scale: float = 3.0, shift: float = 1.0) { x * scale + shift }\n",
    )
    .unwrap();
    let x = || ArgValue::Tensor(Tensor::from_f64(DType::F32, &[2], &[1.0, 2.0]));
    let out = exec(
        &file,
        "affine",
        vec![
            ("shift".to_string(), ArgValue::Float(0.5)),
            ("x".to_string(), x()),
        ],
        Backend::Jit,
    )
    .unwrap();
    assert_eq!(out[0].1.to_f64_vec(), vec![3.5, 6.5]);
    let e = exec(
        &file,
        "affine",
        vec![
            ("x".to_string(), x()),
            ("shfit".to_string(), ArgValue::Float(0.5)),
        ],
        Backend::Interp,
    )
    .err()
    .unwrap();
    assert!(e.contains("has no parameter `shfit`"), "{e}");
    assert!(e.contains("did you mean `shift`"), "{e}");
}

#[test]
fn a_file_module_is_called_by_its_file_name() {
    let d = dir("called");
    std::fs::write(d.join("td_residual.rlp"), MINE).unwrap();
    let main = "use \"./td_residual.rlp\"\nx = td_residual(zeros([5, 2]), zeros([6, 2]), zeros([5, 2]) > 0.0)\ntrain iterations: 1 { log a = mean(x) }\n";
    std::fs::write(d.join("main.rlp"), main).unwrap();
    if let Err((diags, sources)) = rlpc::front_end(&d.join("main.rlp"), 0) {
        panic!("{}", rlpc::diag::render_plain(&diags, &sources));
    }
}

#[test]
fn a_file_whose_name_is_not_a_name_must_be_imported_by_its_functions() {
    let d = dir("unnamed");
    std::fs::write(d.join("td-residual.rlp"), MINE).unwrap();
    let main = "use \"./td-residual.rlp\"\ntrain iterations: 1 { log a = 1.0 }\n";
    std::fs::write(d.join("main.rlp"), main).unwrap();
    let Err((diags, sources)) = rlpc::front_end(&d.join("main.rlp"), 0) else {
        panic!("must not compile")
    };
    let text = rlpc::diag::render_plain(&diags, &sources);
    assert!(text.contains("unnamed-module"), "{text}");
    assert!(
        text.contains("use \"./td-residual.rlp\".{td_residual}"),
        "the help shows the import that works:\n{text}"
    );
    // And that import does work.
    let fixed = "use \"./td-residual.rlp\".{td_residual}\ntrain iterations: 1 { log a = 1.0 }\n";
    std::fs::write(d.join("main.rlp"), fixed).unwrap();
    assert!(rlpc::front_end(&d.join("main.rlp"), 0).is_ok());
}

/// A file reached by two spellings is one module: a program that imports itself through
/// `sub/../` finds its own functions (and names a missing one) instead of loading itself
/// again under ever longer names until the path is too long to open.
#[test]
fn a_file_importing_itself_by_another_spelling_is_one_module() {
    let d = dir("itself");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    let program = |name: &str| {
        format!(
            "use \"./sub/../main.rlp\".{{{name}}}\n\npub fn f(x) {{ x }}\n\
             w = zeros([])\ntrain iterations: 1 {{\n  fit w <- f(w)\n}}\n"
        )
    };
    std::fs::write(d.join("main.rlp"), program("h")).unwrap();
    let err = match rlpc::front_end(&d.join("main.rlp"), 0) {
        Ok(_) => panic!("`h` is not defined anywhere"),
        Err((e, s)) => rlpc::diag::render_plain(&e, &s),
    };
    let own = format!("module `{}` has no `h`", d.join("main.rlp").display());
    assert!(err.contains(&own), "{err}");
    std::fs::write(d.join("main.rlp"), program("f")).unwrap();
    assert!(rlpc::front_end(&d.join("main.rlp"), 0).is_ok());
}

/// `use "./"` names the program's own directory, which is not a module: the message says
/// so whether the program is run from its directory (where the path folds to `.`) or
/// from the one above.
#[test]
fn a_use_of_the_programs_own_directory_says_it_is_a_directory() {
    let d = dir("own-dir").join("u");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("m.rlp"),
        "use \"./\".{g}\ntrain iterations: 1 { log a = 1.0 }\n",
    )
    .unwrap();
    for (cwd, file, shown) in [
        (d.clone(), "m.rlp", "`.`"),
        (d.join(".."), "u/m.rlp", "`u`"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rlpc"))
            .args(["check", file])
            .current_dir(&cwd)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains(&format!("{shown} is a directory, not a .rlp file")),
            "from {}:\n{err}",
            cwd.display()
        );
    }
}
