//! Host tensors: an n-dimensional array of one of the four dtypes the IR knows.
//!
//! Every tensor that crosses a boundary (graph input/output, checkpoint, `.npy`) is in
//! standard (row-major, contiguous) layout; constructors here guarantee it.

use crate::memory::{AllocError, Zeroable, try_zeroed};
use ndarray::{ArrayD, IxDyn};

/// The element types of the language. `F64` exists for gradient checks; `I32` for
/// indices and counters; `Bool` for masks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    I32,
    Bool,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I32 => "i32",
            DType::Bool => "bool",
        }
    }
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F64 => 8,
            DType::Bool => 1,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A host tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    I32(ArrayD<i32>),
    Bool(ArrayD<bool>),
}

impl Tensor {
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::F64(_) => DType::F64,
            Tensor::I32(_) => DType::I32,
            Tensor::Bool(_) => DType::Bool,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::F64(a) => a.shape(),
            Tensor::I32(a) => a.shape(),
            Tensor::Bool(a) => a.shape(),
        }
    }

    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A tensor of zeros (false for bool).
    pub fn zeros(dtype: DType, shape: &[usize]) -> Tensor {
        let s = IxDyn(shape);
        match dtype {
            DType::F32 => Tensor::F32(ArrayD::zeros(s)),
            DType::F64 => Tensor::F64(ArrayD::zeros(s)),
            DType::I32 => Tensor::I32(ArrayD::zeros(s)),
            DType::Bool => Tensor::Bool(ArrayD::from_elem(s, false)),
        }
    }

    /// [`Tensor::zeros`], or an error when the memory cannot be had (or the shape's size
    /// overflows) instead of aborting the process.
    pub fn try_zeros(dtype: DType, shape: &[usize]) -> Result<Tensor, AllocError> {
        let len = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or(AllocError { bytes: u64::MAX })?;
        fn array<T: Zeroable>(shape: &[usize], len: usize) -> Result<ArrayD<T>, AllocError> {
            let v = try_zeroed::<T>(len)?;
            ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|_| AllocError { bytes: u64::MAX })
        }
        Ok(match dtype {
            DType::F32 => Tensor::F32(array(shape, len)?),
            DType::F64 => Tensor::F64(array(shape, len)?),
            DType::I32 => Tensor::I32(array(shape, len)?),
            DType::Bool => Tensor::Bool(array(shape, len)?),
        })
    }

    /// A tensor filled with `value` converted to `dtype` (non-zero is `true`).
    pub fn full(dtype: DType, shape: &[usize], value: f64) -> Tensor {
        let s = IxDyn(shape);
        match dtype {
            DType::F32 => Tensor::F32(ArrayD::from_elem(s, value as f32)),
            DType::F64 => Tensor::F64(ArrayD::from_elem(s, value)),
            DType::I32 => Tensor::I32(ArrayD::from_elem(s, value as i32)),
            DType::Bool => Tensor::Bool(ArrayD::from_elem(s, value != 0.0)),
        }
    }

    /// Build from row-major `f64` values, converting to `dtype`.
    /// Panics if `values.len()` does not match the shape (a programming error).
    pub fn from_f64(dtype: DType, shape: &[usize], values: &[f64]) -> Tensor {
        assert_eq!(
            values.len(),
            shape.iter().product::<usize>(),
            "Tensor::from_f64: length"
        );
        let s = IxDyn(shape);
        match dtype {
            DType::F32 => Tensor::F32(
                ArrayD::from_shape_vec(s, values.iter().map(|&v| v as f32).collect()).unwrap(),
            ),
            DType::F64 => Tensor::F64(ArrayD::from_shape_vec(s, values.to_vec()).unwrap()),
            DType::I32 => Tensor::I32(
                ArrayD::from_shape_vec(s, values.iter().map(|&v| v as i32).collect()).unwrap(),
            ),
            DType::Bool => Tensor::Bool(
                ArrayD::from_shape_vec(s, values.iter().map(|&v| v != 0.0).collect()).unwrap(),
            ),
        }
    }

    /// All elements as `f64`, row-major (bool as 0/1). For tests, metrics and printing.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Tensor::F32(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::F64(a) => a.iter().copied().collect(),
            Tensor::I32(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::Bool(a) => a.iter().map(|&v| if v { 1.0 } else { 0.0 }).collect(),
        }
    }

    /// The single element of a tensor with one element, as `f64`.
    pub fn scalar_f64(&self) -> Option<f64> {
        if self.len() == 1 {
            self.to_f64_vec().first().copied()
        } else {
            None
        }
    }

    /// This tensor converted to `dtype` (float → int truncates toward zero).
    pub fn cast(&self, dtype: DType) -> Tensor {
        if self.dtype() == dtype {
            return self.clone();
        }
        Tensor::from_f64(dtype, self.shape(), &self.to_f64_vec())
    }

    /// The same tensor in standard row-major layout.
    pub fn into_standard(self) -> Tensor {
        fn std<T: Clone>(a: ArrayD<T>) -> ArrayD<T> {
            if a.is_standard_layout() {
                a
            } else {
                a.as_standard_layout().into_owned()
            }
        }
        match self {
            Tensor::F32(a) => Tensor::F32(std(a)),
            Tensor::F64(a) => Tensor::F64(std(a)),
            Tensor::I32(a) => Tensor::I32(std(a)),
            Tensor::Bool(a) => Tensor::Bool(std(a)),
        }
    }

    /// Whether every float element is finite (always true for ints and bools).
    ///
    /// The trainer checks every output of every stage, a rollout's batch included (tens
    /// of megabytes an iteration), so this is a bitwise test over chunks that the
    /// compiler vectorises, split across threads when large.
    pub fn all_finite(&self) -> bool {
        match self {
            Tensor::F32(a) => match a.as_slice_memory_order() {
                Some(xs) => chunks_all(xs, |c| {
                    !c.iter()
                        .fold(false, |bad, v| bad | (v.to_bits() & F32_EXP == F32_EXP))
                }),
                None => a.iter().all(|v| v.is_finite()),
            },
            Tensor::F64(a) => match a.as_slice_memory_order() {
                Some(xs) => chunks_all(xs, |c| {
                    !c.iter()
                        .fold(false, |bad, v| bad | (v.to_bits() & F64_EXP == F64_EXP))
                }),
                None => a.iter().all(|v| v.is_finite()),
            },
            _ => true,
        }
    }

    /// An error naming the first entry of `index` (an `[M] i32` vector) outside
    /// `0..rows`.
    pub fn check_row_index(index: &Tensor, rows: usize) -> Result<(), String> {
        let Tensor::I32(idx) = index else {
            return Err(format!("row indices must be i32, found {}", index.dtype()));
        };
        let outside = |&i: &i32| i < 0 || i as usize >= rows;
        // Row writes check every draw of a step-wise program: the contiguous case in line.
        let found = match idx.as_slice() {
            Some(s) => s.iter().position(outside),
            None => idx.iter().position(outside),
        };
        match found {
            Some(m) => Err(format!(
                "row index {} at position {m} is out of range 0..{rows}",
                idx.iter().nth(m).copied().unwrap_or_default()
            )),
            None => Ok(()),
        }
    }

    /// Rewrites rows of this tensor where it lies: row `index[m]` becomes (with `add`:
    /// is increased by) row `m` of `rows`, for `m` in order, so of two writes to one row
    /// the later wins. O(rows written); checked first, so an error changes nothing.
    pub fn put_rows(&mut self, index: &Tensor, rows: &Tensor, add: bool) -> Result<(), String> {
        let n = self.shape().first().copied().unwrap_or(0);
        Tensor::check_row_index(index, n)?;
        let fits = self.dtype() == rows.dtype()
            && self.shape().len() == rows.shape().len()
            && self.shape().get(1..) == rows.shape().get(1..)
            && rows.shape().first() == Some(&index.len());
        if self.shape().is_empty() || !fits {
            return Err(format!(
                "cannot write rows of {} {:?} into {} {:?}",
                rows.dtype(),
                rows.shape(),
                self.dtype(),
                self.shape()
            ));
        }
        let Tensor::I32(idx) = index else {
            unreachable!("checked above")
        };
        // Checked above: every index is in 0..n.
        let idx: std::borrow::Cow<'_, [i32]> = match idx.as_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(idx.iter().copied().collect()),
        };
        fn write<T: Clone>(
            dst: &mut ArrayD<T>,
            idx: &[i32],
            src: &ArrayD<T>,
            f: impl Fn(&mut T, &T),
        ) {
            if !dst.is_standard_layout() {
                *dst = dst.as_standard_layout().into_owned();
            }
            let per: usize = dst.shape()[1..].iter().product();
            // A row-major copy only when the rows are not row-major already.
            let copy;
            let s = match src.as_slice() {
                Some(s) => s,
                None => {
                    copy = src.iter().cloned().collect::<Vec<T>>();
                    &copy[..]
                }
            };
            let d = dst.as_slice_mut().expect("standard layout");
            for (m, &i) in idx.iter().enumerate() {
                let i = i as usize;
                for (x, y) in d[i * per..(i + 1) * per]
                    .iter_mut()
                    .zip(&s[m * per..(m + 1) * per])
                {
                    f(x, y);
                }
            }
        }
        match (self, rows, add) {
            (Tensor::F32(d), Tensor::F32(s), true) => write(d, &idx, s, |x, y| *x += *y),
            (Tensor::F64(d), Tensor::F64(s), true) => write(d, &idx, s, |x, y| *x += *y),
            (Tensor::I32(d), Tensor::I32(s), true) => {
                write(d, &idx, s, |x, y| *x = x.wrapping_add(*y))
            }
            (Tensor::F32(d), Tensor::F32(s), false) => write(d, &idx, s, |x, y| *x = *y),
            (Tensor::F64(d), Tensor::F64(s), false) => write(d, &idx, s, |x, y| *x = *y),
            (Tensor::I32(d), Tensor::I32(s), false) => write(d, &idx, s, |x, y| *x = *y),
            (Tensor::Bool(d), Tensor::Bool(s), false) => write(d, &idx, s, |x, y| *x = *y),
            _ => return Err("cannot add rows of bools".into()),
        }
        Ok(())
    }
}

/// The exponent bits: all set means an infinity or a NaN. Testing them with a
/// branch-free fold (no early exit inside a chunk) vectorises.
const F32_EXP: u32 = 0x7f80_0000;
const F64_EXP: u64 = 0x7ff0_0000_0000_0000;

/// Whether `ok` holds for every chunk of `xs`, chunks checked in parallel when there
/// are several.
fn chunks_all<T: Sync>(xs: &[T], ok: impl Fn(&[T]) -> bool + Sync + Send) -> bool {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    if xs.len() <= CHUNK {
        return ok(xs);
    }
    xs.par_chunks(CHUNK).all(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_rows_writes_in_order_and_rejects_bad_indices_untouched() {
        let mut t = Tensor::from_f64(DType::F32, &[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let idx = Tensor::from_f64(DType::I32, &[2], &[2.0, 2.0]);
        let rows = Tensor::from_f64(DType::F32, &[2, 2], &[7.0, 8.0, 9.0, 10.0]);
        t.put_rows(&idx, &rows, false).unwrap();
        assert_eq!(t.to_f64_vec(), [0.0, 1.0, 2.0, 3.0, 9.0, 10.0]);
        t.put_rows(&idx, &rows, true).unwrap();
        assert_eq!(t.to_f64_vec(), [0.0, 1.0, 2.0, 3.0, 25.0, 28.0]);
        let bad = Tensor::from_f64(DType::I32, &[2], &[0.0, 3.0]);
        let e = t.put_rows(&bad, &rows, false).unwrap_err();
        assert_eq!(e, "row index 3 at position 1 is out of range 0..3");
        assert_eq!(t.to_f64_vec(), [0.0, 1.0, 2.0, 3.0, 25.0, 28.0]);
    }

    /// Every non-finite value is found wherever it sits: in a small tensor, in any
    /// chunk of a large one, at the last element; the largest finite values, negative
    /// zero and subnormals are finite.
    #[test]
    fn all_finite_finds_every_non_finite_value() {
        for dtype in [DType::F32, DType::F64] {
            for len in [1, 7, 65_536, 65_537, 300_001] {
                let max = if dtype == DType::F32 {
                    f32::MAX as f64
                } else {
                    f64::MAX
                };
                let mut xs: Vec<f64> = (0..len).map(|i| (i % 13) as f64 - 6.0).collect();
                xs[0] = -max;
                xs[len / 2] = -0.0;
                xs[len - 1] = if dtype == DType::F32 { 1e-40 } else { 5e-324 };
                let t = Tensor::from_f64(dtype, &[len], &xs);
                assert!(t.all_finite(), "{dtype} len {len}");
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    for at in [0, len / 3, len - 1] {
                        let mut ys = xs.clone();
                        ys[at] = bad;
                        let t = Tensor::from_f64(dtype, &[len], &ys);
                        assert!(!t.all_finite(), "{dtype} len {len}: {bad} at {at}");
                    }
                }
            }
        }
        assert!(Tensor::full(DType::I32, &[3], 1.0).all_finite());
    }
}
