//! Rows that several kernels of a schedule gather with one index buffer, fetched into
//! cache together just before the first of them runs.
//!
//! Why: a replay draw gathers the same random rows from every field of a large buffer,
//! one kernel per field, and each kernel's cache misses overlap only with its own.
//! Prefetching every field's rows at once lets the memory system serve all of them
//! side by side (the hand-written loop of `bench/replay_floor.c`, split into one loop
//! per field as the kernels are, ran 7–15 % faster with such a prefetch). A prefetch
//! never faults and changes no result; indices out of range are skipped (the kernel's
//! own check reports them).

use crate::kernel::{BufId, BufferKind, Op, Schedule, Step};
use rlp_runtime::DType;

/// Index buffers longer than this are not prefetched from: their rows would evict
/// one another before they are read.
const MAX_ROWS: usize = 4096;

/// Tables smaller than this are likely in cache already.
const MIN_TABLE_BYTES: usize = 1 << 20;

/// The rows of `table` that `index` (an `i32` buffer of `rows` entries) selects: entry
/// `i` names the element at `offset + i · stride`, of `elem` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Warm {
    index: BufId,
    rows: usize,
    table: BufId,
    offset: i64,
    stride: i64,
    bound: u64,
    elem: usize,
}

/// What to prefetch before each step: for every index buffer that at least two kernels
/// gather large input tables with, all their rows, before the first of those kernels.
pub(crate) fn plan(schedule: &Schedule) -> Vec<Vec<Warm>> {
    let mut plans: Vec<Vec<Warm>> = vec![vec![]; schedule.steps.len()];
    // Per index buffer: the first step gathering with it, and how many steps do.
    let mut users: Vec<(BufId, usize, usize)> = vec![];
    for (s, step) in schedule.steps.iter().enumerate() {
        let Step::Kernel(k) = step else { continue };
        let mut counted: Vec<BufId> = vec![];
        for inst in &k.insts {
            let Op::Load { param, index } = inst.op else {
                continue;
            };
            let ix = &k.indices[index.index()];
            let [d] = ix.dynamic.as_slice() else {
                continue;
            };
            let Op::Load { param: via, .. } = k.insts[d.value.index()].op else {
                continue;
            };
            let (table, index) = (k.params[param].buf, k.params[via].buf);
            let (t, i) = (
                &schedule.buffers[table.index()],
                &schedule.buffers[index.index()],
            );
            let large = t.len.saturating_mul(t.dtype.size_bytes()) >= MIN_TABLE_BYTES;
            if !matches!(t.kind, BufferKind::Input(_))
                || !large
                || i.dtype != DType::I32
                || i.len > MAX_ROWS
            {
                continue;
            }
            let first = match users.iter_mut().find(|u| u.0 == index) {
                Some(u) => {
                    if !counted.contains(&index) {
                        u.2 += 1;
                    }
                    u.1
                }
                None => {
                    users.push((index, s, 1));
                    s
                }
            };
            counted.push(index);
            let w = Warm {
                index,
                rows: i.len,
                table,
                offset: ix.offset,
                stride: d.stride,
                bound: d.bound,
                elem: t.dtype.size_bytes(),
            };
            if !plans[first].contains(&w) {
                plans[first].push(w);
            }
        }
    }
    for (index, first, kernels) in users {
        if kernels < 2 {
            plans[first].retain(|w| w.index != index);
        }
    }
    plans
}

/// Prefetches the rows `w` names.
///
/// # Safety
/// `ptrs` holds every buffer's address, allocated with its declared length, and the
/// index buffer is written.
pub(crate) unsafe fn prefetch(w: &Warm, ptrs: &[*mut u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let index = ptrs[w.index.index()].cast::<i32>().cast_const();
        let table = ptrs[w.table.index()].cast_const();
        for m in 0..w.rows {
            // SAFETY: the index buffer holds `rows` entries (the caller's contract).
            let i = unsafe { index.add(m).read() };
            if i < 0 || i as u64 >= w.bound {
                continue;
            }
            let at = (w.offset + i64::from(i) * w.stride) as usize * w.elem;
            // A prefetch reads nothing and cannot fault; the address is inside the
            // table for every index in range.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(table.wrapping_add(at).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (w, ptrs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rlp_ir::{Graph, Op as IrOp, ReduceOp, TensorType};

    /// Rows of `fields` tables of `rows` rows (the first `[rows, 4]` f32, the rest
    /// `[rows]` i32) taken with one index of 64, each summed.
    fn draws(rows: usize, fields: usize) -> Graph {
        let mut g = Graph::new();
        let idx = g.add_input(TensorType::new(DType::I32, vec![64]));
        let mut outs = vec![];
        for f in 0..fields {
            let table = match f {
                0 => g.add_input(TensorType::new(DType::F32, vec![rows, 4])),
                _ => g.add_input(TensorType::new(DType::I32, vec![rows])),
            };
            let taken = g.add(IrOp::TakeRows, vec![table, idx]).unwrap();
            let axes = if f == 0 { vec![0, 1] } else { vec![0] };
            outs.push(g.reduce(ReduceOp::Sum, taken, axes).unwrap());
        }
        g.outputs = outs;
        g
    }

    fn warmed(g: &Graph) -> Vec<Warm> {
        let schedule = crate::fuse::fuse(g, true).unwrap();
        let plans = plan(&schedule);
        // Everything is prefetched at one step, before the first gather.
        assert!(plans.iter().filter(|p| !p.is_empty()).count() <= 1);
        plans.concat()
    }

    #[test]
    fn rows_gathered_by_several_kernels_are_prefetched_together() {
        let w = warmed(&draws(1 << 18, 3));
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w.iter().all(|w| w.rows == 64 && w.bound == 1 << 18));
        // The `[rows, 4]` table steps four elements a row, the others one.
        let mut strides: Vec<i64> = w.iter().map(|w| w.stride).collect();
        strides.sort();
        assert_eq!(strides, [1, 1, 4]);
    }

    #[test]
    fn one_gather_or_small_tables_are_left_alone() {
        assert!(warmed(&draws(1 << 18, 1)).is_empty());
        assert!(warmed(&draws(1000, 3)).is_empty());
    }
}
