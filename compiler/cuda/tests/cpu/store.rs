//! The trainer's slots in device memory (`rlp_cuda::store`), on the CPU build (or the
//! GPU, as the rest of the suite): stages
//! read and write slots in place, checks run before anything is written, rows are put
//! where they lie.

use crate::common::{graph, t, target, ty};
use rlp_ir::{BinaryOp, Graph, UnaryOp};
use rlp_runtime::resident::{Checked, SlotStore};
use rlp_runtime::{DType, Tensor};

fn store(slots: &[(DType, &[usize])]) -> Box<dyn SlotStore> {
    let slots: Vec<_> = slots.iter().map(|(d, s)| (*d, s.to_vec())).collect();
    rlp_cuda::slot_store(target(), &slots).unwrap()
}

fn exe(g: &Graph) -> Box<dyn rlp_runtime::Executable> {
    rlp_cuda::compile(g, target()).unwrap()
}

fn values(s: &dyn SlotStore, host: &[Tensor], slot: usize) -> Vec<f64> {
    if s.device_newer(slot) {
        s.download(slot).unwrap().to_f64_vec()
    } else {
        host[slot].to_f64_vec()
    }
}

/// A stage that swaps two slots and writes their sum into a third: outputs that are
/// inputs passed through are set aside before any slot is overwritten.
#[test]
fn a_stage_reads_every_slot_before_writing_any() {
    let f = ty(DType::F32, &[3]);
    let g = graph(&[f.clone(), f], |g, x| {
        let sum = g.binary(BinaryOp::Add, x[0], x[1]).unwrap();
        vec![x[1], x[0], sum]
    });
    let three: &[usize] = &[3];
    let mut s = store(&[(DType::F32, three); 3]);
    let host = vec![
        t(DType::F32, &[3], &[1.0, 2.0, 3.0]),
        t(DType::F32, &[3], &[10.0, 20.0, 30.0]),
        t(DType::F32, &[3], &[0.0; 3]),
    ];
    let e = exe(&g);
    let done = s.run(e.as_ref(), &host, &[0, 1], &[0, 1, 2], &[false; 3], &[]);
    assert!(matches!(done, Ok(Checked::Written)), "{done:?}");
    assert_eq!(values(s.as_ref(), &host, 0), [10.0, 20.0, 30.0]);
    assert_eq!(values(s.as_ref(), &host, 1), [1.0, 2.0, 3.0]);
    assert_eq!(values(s.as_ref(), &host, 2), [11.0, 22.0, 33.0]);
    // Twice more: back, and again — the slots were read where they now lie.
    s.run(e.as_ref(), &host, &[0, 1], &[0, 1, 2], &[false; 3], &[])
        .unwrap();
    assert_eq!(values(s.as_ref(), &host, 0), [1.0, 2.0, 3.0]);
    assert_eq!(values(s.as_ref(), &host, 1), [10.0, 20.0, 30.0]);
}

/// NaN or ±Inf in an output is found on the device and nothing is written; NaN passes
/// where it is allowed, ±Inf never does.
#[test]
fn non_finite_outputs_are_found_before_anything_is_written() {
    let f = ty(DType::F32, &[2]);
    let g = graph(&[f], |g, x| vec![g.unary(UnaryOp::Log, x[0]).unwrap()]);
    let e = exe(&g);
    let mut s = store(&[(DType::F32, &[2]), (DType::F32, &[2])]);
    let mut host = vec![
        t(DType::F32, &[2], &[1.0, -1.0]),
        t(DType::F32, &[2], &[7.0, 7.0]),
    ];
    s.host_wrote(1);
    let nan = s.run(e.as_ref(), &host, &[0], &[1], &[false], &[]).unwrap();
    assert!(matches!(nan, Checked::NonFinite(0)), "{nan:?}");
    assert_eq!(values(s.as_ref(), &host, 1), [7.0, 7.0], "nothing written");
    let allowed = s.run(e.as_ref(), &host, &[0], &[1], &[true], &[]).unwrap();
    assert!(matches!(allowed, Checked::Written), "{allowed:?}");
    assert!(values(s.as_ref(), &host, 1)[1].is_nan());
    host[0] = t(DType::F32, &[2], &[1.0, 0.0]);
    s.host_wrote(0);
    let inf = s.run(e.as_ref(), &host, &[0], &[1], &[true], &[]).unwrap();
    assert!(matches!(inf, Checked::NonFinite(0)), "{inf:?}");
}

/// Rows put on the device equal rows put on the host (a repeated index: the later
/// write wins, sums add in order); indices out of range are found with the stage.
#[test]
fn rows_are_put_where_they_lie() {
    let (target, index, rows) = (0, 1, 2);
    for add in [false, true] {
        let mut s = store(&[
            (DType::F32, &[4, 2]),
            (DType::I32, &[3]),
            (DType::F32, &[3, 2]),
        ]);
        let mut host = vec![
            t(
                DType::F32,
                &[4, 2],
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            ),
            t(DType::I32, &[3], &[3.0, 1.0, 3.0]),
            t(DType::F32, &[3, 2], &[0.5, 0.25, -1.0, -2.0, 9.0, 10.0]),
        ];
        for _ in 0..2 {
            s.put_rows(&host, target, index, rows, add).unwrap();
        }
        let mut want = host[0].clone();
        for _ in 0..2 {
            want.put_rows(&host[1], &host[2], add).unwrap();
        }
        assert_eq!(
            values(s.as_ref(), &host, target),
            want.to_f64_vec(),
            "add {add}"
        );
        // A stage whose index output is out of range writes nothing.
        let g = graph(&[ty(DType::I32, &[3])], |_, x| vec![x[0]]);
        host[1] = t(DType::I32, &[3], &[0.0, 4.0, 1.0]);
        s.host_wrote(1);
        let checked = s
            .run(exe(&g).as_ref(), &host, &[1], &[1], &[false], &[(0, 4)])
            .unwrap();
        match checked {
            Checked::OutOfRange(0, idx) => assert_eq!(idx.to_f64_vec(), [0.0, 4.0, 1.0]),
            other => panic!("{other:?}"),
        }
    }
}
