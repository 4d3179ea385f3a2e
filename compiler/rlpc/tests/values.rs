//! What top-level values and state updates mean, run end to end on the JIT and the
//! interpreter: integer sums stay exact, nested tensor literals have their shape, a
//! whole list of state is updated with one `<-`, `one_hot` of an index out of range is
//! a zero row, and a tabular model of a step that leaves its table is an error.

mod common;

use rlpc::run::{self, Backend, Trainer};

fn train_src(src: &str, iters: u64, backend: Backend) -> Vec<Vec<f64>> {
    common::source_metrics(src, 0, iters, backend)
}

const BACKENDS: [Backend; 2] = [Backend::Jit, Backend::Interp];

/// 2^24 + 1 is not an f32: a sum that went through f32 loses the 1.
#[test]
fn a_sum_of_integers_is_exact() {
    let src = "big = i32([16777217, 0, 5])\nx = zeros([], dtype: \"i32\")\nrows = zeros([2], dtype: \"i32\")\n\
               train iterations: 1 {\n  fit x <- sum(big) - 16777222\n      rows <- sum(reshape(i32([16777217, 3, 1, 1]), [2, 2]), axis: 1)\n  \
               log off = f32(x), r0 = f32(rows[0] - 16777220), r1 = f32(rows[1])\n}\n";
    for b in BACKENDS {
        assert_eq!(train_src(src, 1, b)[0], vec![0.0, 0.0, 2.0], "{b:?}");
    }
    // The type says so too: an i32 sum indexes.
    let (p, _) = rlpc::front_end_source(
        "values.rlp",
        "t = f32([1.0, 2.0, 3.0])\nk = sum(i32([1, 1]))\ntrain iterations: 1 { log v = t[k] }\n",
        0,
    )
    .unwrap_or_else(|(d, s)| panic!("{}", rlpc::diag::render_plain(&d, &s)));
    let c = run::compile(p, Backend::Jit).unwrap();
    let mut tr = Trainer::new(&c).unwrap();
    tr.step(0, None).unwrap();
    assert_eq!(tr.metric_values(), vec![3.0]);
}

#[test]
fn nested_lists_are_a_tensor_literal_of_their_shape() {
    let src = "p = f32([[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.5], [0.0, 2.0]]])\n\
               m = [[1, 2, 3], [4, 5, 6]]\nt = i32(m)\n\
               train iterations: 1 {\n  log a = p[1, 1, 1], b = p[1, 0, 0], n = f32(len(p)), \
               c = f32(t[1, 0]), w = f32(t.shape[1]), s = f32(sum(t))\n}\n";
    for b in BACKENDS {
        assert_eq!(
            train_src(src, 1, b)[0],
            vec![2.0, 0.5, 2.0, 4.0, 3.0, 21.0],
            "{b:?}"
        );
    }
}

#[test]
fn a_whole_list_of_state_is_updated_at_once() {
    let src = "hist = [zeros([2]), ones([3])]\npair = (zeros([]), ones([]))\n\
               train iterations: 3 {\n  fit hist <- [hist[0] + 1.0, hist[1] * 2.0]\n      \
               pair <- (pair[0] + 1.0, pair[1] * 3.0)\n  \
               log a = sum(hist[0]), b = sum(hist[1]), c = pair[0], d = pair[1]\n}\n";
    for b in BACKENDS {
        let m = train_src(src, 3, b);
        assert_eq!(m[2], vec![6.0, 24.0, 3.0, 27.0], "{b:?}");
    }
}

/// As documented: a zero row, not an error (the checked form is a `take` of an
/// identity's rows, which `std.dp.tabular_model` uses).
#[test]
fn one_hot_of_an_index_out_of_range_is_a_zero_row() {
    let src = "i = i32([5, -1, 2])\ntrain iterations: 1 {\n  \
               log s = sum(one_hot(i, 3)), r = sum(one_hot(i, 3)[2])\n}\n";
    for b in BACKENDS {
        assert_eq!(train_src(src, 1, b)[0], vec![1.0, 1.0], "{b:?}");
    }
}

/// A next state outside the table stops `tabular_model` with an index error naming
/// the stage, instead of losing the row's probability mass.
#[test]
fn a_tabular_model_of_a_step_that_leaves_the_table_is_an_error() {
    let src = "use std.dp.{tabular_model}\n\
               fn step(s, a) {\n  pos = max(s[:, 0] + where(a == 1, 1, -1), 0)\n  \
               { state: reshape(pos, [pos.shape[0], 1]), reward: where(pos == 3, 1.0, 0.0), terminated: pos == 5 }\n}\n\
               model = tabular_model(step, states: 5, actions: 2)\n\
               train iterations: 1 { log total = sum(model.p) }\n";
    let (p, _) = rlpc::front_end_source("values.rlp", src, 0)
        .unwrap_or_else(|(d, s)| panic!("{}", rlpc::diag::render_plain(&d, &s)));
    let c = run::compile(p, Backend::Jit).unwrap();
    let e = Trainer::new(&c).err().expect("an index error");
    assert!(
        e.contains("stage `init` failed") && e.contains("index 5 is out of range 0..5"),
        "{e}"
    );
    // In range (clipped at the last state) the rows sum to one.
    let ok = src.replace("max(s[:, 0]", "min(4, max(s[:, 0]");
    let ok = ok.replace(", 0)\n  {", ", 0))\n  {");
    assert_eq!(train_src(&ok, 1, Backend::Jit)[0], vec![10.0]);
}

/// `None` in an index inserts an axis of length 1, as in numpy: `x[:, None] * x[None, :]`
/// is the outer product, and it mixes with slices and ints.
#[test]
fn none_in_an_index_is_a_new_axis() {
    let src = "x = f32([1.0, 2.0, 3.0])\ny = f32([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])\n\
               train iterations: 1 {\n  fit o = x[:, None] * x[None, :]\n      c = y[:, None, 1]\n      \
               z = y[None]\n  \
               log a = o[1, 2], n = f32(o.shape[0] * 10 + o.shape[1]), \
               c0 = c[2, 0], r = f32(c.shape[0] * 10 + c.shape[1]), \
               zr = f32(z.shape[0] * 100 + z.shape[1] * 10 + z.shape[2]), z1 = z[0, 1, 0]\n}\n";
    for b in BACKENDS {
        assert_eq!(
            train_src(src, 1, b)[0],
            vec![6.0, 33.0, 6.0, 31.0, 132.0, 3.0],
            "{b:?}"
        );
    }
    // A binding named `None` is what it says.
    let bound = "None = 1\nx = f32([1.0, 2.0, 3.0])\ntrain iterations: 1 { log v = x[None] }\n";
    assert_eq!(train_src(bound, 1, Backend::Jit)[0], vec![2.0]);
}

/// `x[:, idx]` picks row `b`'s entry `idx[b]` along the second axis, keeping the rest:
/// the same values as the one-hot form, and its gradient reaches only the picked
/// entries (one SGD step of rate 1 on `sum(w[:, idx] * c)` lowers each by its `c`).
#[test]
fn an_index_tensor_after_a_colon_picks_along_the_second_axis() {
    let src = "x = reshape(f32(indices(24)), [3, 2, 4])\nidx = i32([1, 0, 1])\n\
               w = param([3, 2, 4], init: \"zeros\")\nopt = sgd(lr: 1.0)\n\
               train iterations: 1 {\n  fit p = x[:, idx]\n      \
               q = sum(x * reshape(one_hot(idx, 2), [3, 2, 1]), axis: 1)\n      \
               m = reshape(f32(indices(12)), [3, 4])\n  \
               improve minimize sum(w[:, idx] * (m + 1.0)) with opt\n  \
               log a = p[0, 3], b = p[1, 0], c = p[2, 2], same = sum(abs(p - q)), \
               r = f32(p.shape[0] * 10 + p.shape[1]), \
               w01 = w[0, 1, 3], w00 = w[0, 0, 3], w10 = w[1, 0, 0], total = sum(w), \
               pair = sum(f32([[1.0, 2.0], [3.0, 4.0]])[:, i32([1, 0])])\n}\n";
    for b in BACKENDS {
        assert_eq!(
            train_src(src, 1, b)[0],
            vec![7.0, 8.0, 22.0, 0.0, 34.0, -4.0, 0.0, -5.0, -78.0, 5.0],
            "{b:?}"
        );
    }
}
