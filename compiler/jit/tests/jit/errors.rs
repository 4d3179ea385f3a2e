//! Runtime errors come back as `RunError`s naming the op, never a panic; bad inputs and
//! bad graphs are reported clearly.

use crate::common::*;
use rlp_ir::{BinaryOp, Graph, Node, NodeId, Op, Type};
use rlp_jit::{JitError, JitOptions, compile};
use rlp_runtime::DType;

fn gather_graph() -> Graph {
    graph(&[ty(DType::F32, &[3, 4]), ty(DType::I32, &[3])], |g, x| {
        let e = g.unary(rlp_ir::UnaryOp::Exp, x[0]).unwrap();
        let gathered = g.add(Op::Gather, vec![e, x[1]]).unwrap();
        vec![g.binary(BinaryOp::Mul, gathered, gathered).unwrap()]
    })
}

#[test]
fn row_indices_out_of_range_are_run_errors() {
    let g = graph(
        &[
            ty(DType::F32, &[5, 2]),
            ty(DType::I32, &[3]),
            ty(DType::F32, &[3, 2]),
        ],
        |g, x| {
            let taken = g.add(Op::TakeRows, vec![x[0], x[1]]).unwrap();
            let put = Op::PutRows { accumulate: false };
            vec![taken, g.add(put, vec![x[0], x[1], x[2]]).unwrap()]
        },
    );
    for bad in [5.0, -1.0] {
        let inputs = [
            Gen(1).tensor(&ty(DType::F32, &[5, 2]), false),
            t(DType::I32, &[3], &[0.0, bad, 2.0]),
            Gen(2).tensor(&ty(DType::F32, &[3, 2]), false),
        ];
        let message = check_fails(&g, &inputs);
        // Rows are taken by a fused gather, rows are put by a native step: both check.
        assert!(message.contains("out of range 0..5"), "{message}");
    }
}

#[test]
fn gather_out_of_range_is_a_run_error() {
    let g = gather_graph();
    for bad in [4.0, -1.0, 1e9] {
        let inputs = [
            Gen(1).tensor(&ty(DType::F32, &[3, 4]), false),
            t(DType::I32, &[3], &[0.0, bad, 2.0]),
        ];
        let message = check_fails(&g, &inputs);
        assert!(
            message.contains("gather") && message.contains("out of range 0..4"),
            "{message}"
        );
    }
    // In range is fine.
    check(
        &g,
        &[
            Gen(1).tensor(&ty(DType::F32, &[3, 4]), false),
            t(DType::I32, &[3], &[0.0, 3.0, 2.0]),
        ],
    );
}

#[test]
fn dyn_index_out_of_range_is_a_run_error() {
    let g = graph(&[ty(DType::F32, &[5, 2]), ty(DType::I32, &[])], |g, x| {
        let row = g.add(Op::DynIndex, vec![x[0], x[1]]).unwrap();
        vec![g.binary(BinaryOp::Add, row, row).unwrap()]
    });
    let x = Gen(2).tensor(&ty(DType::F32, &[5, 2]), false);
    for bad in [5.0, -1.0] {
        let message = check_fails(&g, &[x.clone(), t(DType::I32, &[], &[bad])]);
        assert!(message.contains("dyn_index"), "{message}");
    }
    check(&g, &[x, t(DType::I32, &[], &[4.0])]);
}

#[test]
fn integer_division_by_zero_is_a_run_error() {
    for op in [BinaryOp::Div, BinaryOp::Rem] {
        let g = graph(&[ty(DType::I32, &[3]), ty(DType::I32, &[3])], |g, x| {
            vec![g.binary(op, x[0], x[1]).unwrap()]
        });
        let message = check_fails(
            &g,
            &[
                t(DType::I32, &[3], &[1.0, 2.0, 3.0]),
                t(DType::I32, &[3], &[1.0, 0.0, 1.0]),
            ],
        );
        assert!(message.contains("division by zero"), "{message}");
    }
}

#[test]
fn wrong_inputs_are_run_errors() {
    let g = gather_graph();
    let exe = compile(&g, &JitOptions::default()).unwrap();
    let x = Gen(3).tensor(&ty(DType::F32, &[3, 4]), false);
    let idx = t(DType::I32, &[3], &[0.0, 1.0, 2.0]);
    let e = exe.run(std::slice::from_ref(&x)).unwrap_err();
    assert!(e.message.contains("expected 2 inputs"), "{}", e.message);
    let e = exe
        .run(&[x.clone(), t(DType::F32, &[3], &[0.0; 3])])
        .unwrap_err();
    assert!(
        e.message.contains("input 1: expected i32[3], got f32[3]"),
        "{}",
        e.message
    );
    let e = exe
        .run(&[t(DType::F32, &[4, 3], &[0.0; 12]), idx.clone()])
        .unwrap_err();
    assert!(
        e.message.contains("input 0: expected f32[3,4]"),
        "{}",
        e.message
    );
    assert!(exe.run(&[x, idx]).is_ok());
}

#[test]
fn non_standard_layout_inputs_are_read_in_logical_order() {
    let g = graph(&[ty(DType::F32, &[3, 2])], |g, x| {
        vec![g.binary(BinaryOp::Add, x[0], x[0]).unwrap()]
    });
    let base = t(DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let rlp_runtime::Tensor::F32(a) = base else {
        unreachable!()
    };
    let transposed = rlp_runtime::Tensor::F32(a.reversed_axes());
    let out = check(&g, &[transposed]);
    assert_eq!(out[0].to_f64_vec(), [2.0, 8.0, 4.0, 10.0, 6.0, 12.0]);
}

#[test]
fn invalid_graphs_are_compile_errors() {
    let mut g = Graph::new();
    let x = g.add_input(ty(DType::F32, &[2]));
    // An argument that does not come before its use.
    g.push(Node {
        op: Op::Unary(rlp_ir::UnaryOp::Neg),
        args: vec![NodeId(5)],
        ty: Type::Tensor(ty(DType::F32, &[2])),
        origin: None,
    });
    g.outputs.push(x);
    match compile(&g, &JitOptions::default()) {
        Err(JitError::Invalid(m)) => assert!(m.contains("%5"), "{m}"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("accepted an invalid graph"),
    }
}

#[test]
fn scan_kernel_reports_out_of_range_index() {
    // Reads v[t + 1] from a v of length T: the last step is out of range.
    let n = 2;
    let body = graph(
        &[
            ty(DType::F32, &[n]),
            ty(DType::F32, &[3, n]),
            ty(DType::I32, &[]),
        ],
        |g, x| {
            let one = g.constant(DType::I32, 1.0);
            let next = g.binary(BinaryOp::Add, x[2], one).unwrap();
            let v = g.add(Op::DynIndex, vec![x[1], next]).unwrap();
            vec![g.binary(BinaryOp::Add, x[0], v).unwrap()]
        },
    );
    let g = graph(&[ty(DType::F32, &[n]), ty(DType::F32, &[3, n])], |g, x| {
        let s = g
            .add(
                Op::Scan(Box::new(rlp_ir::Scan {
                    length: 3,
                    reverse: false,
                    n_carry: 1,
                    n_seq: 0,
                    body,
                })),
                vec![x[0], x[1]],
            )
            .unwrap();
        vec![g.project(s, 0).unwrap()]
    });
    let message = check_fails(&g, &Gen(4).inputs(&g, false));
    assert!(message.contains("dyn_index"), "{message}");
}
