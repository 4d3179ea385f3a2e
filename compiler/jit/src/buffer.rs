//! Host memory for schedule buffers.
//!
//! Why typed vectors rather than raw bytes: each vector is aligned for its element type
//! (generated code uses aligned loads), and an output buffer becomes the returned
//! tensor's storage without a copy. `Bool` is stored as bytes holding 0 or 1, the same
//! layout as Rust's `bool`, so boolean tensors cross without conversion on input.

use ndarray::{ArrayD, IxDyn};
use rlp_runtime::memory::{AllocError, try_zeroed};
use rlp_runtime::{DType, Tensor};

/// One buffer's elements.
#[derive(Clone, Debug, PartialEq)]
pub enum Storage {
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f64` elements.
    F64(Vec<f64>),
    /// `i32` elements.
    I32(Vec<i32>),
    /// Booleans as bytes holding 0 or 1.
    Bool(Vec<u8>),
}

impl Storage {
    /// `len` zeros (false) of `dtype`, or an error when the memory cannot be had (the
    /// run stops with a message rather than the process aborting).
    pub fn zeroed(dtype: DType, len: usize) -> Result<Storage, AllocError> {
        Ok(match dtype {
            DType::F32 => Storage::F32(try_zeroed(len)?),
            DType::F64 => Storage::F64(try_zeroed(len)?),
            DType::I32 => Storage::I32(try_zeroed(len)?),
            DType::Bool => Storage::Bool(try_zeroed(len)?),
        })
    }

    /// Values converted as the IR converts literals (float → int truncates; non-zero is true).
    pub fn from_f64(dtype: DType, values: &[f64]) -> Storage {
        match dtype {
            DType::F32 => Storage::F32(values.iter().map(|&v| v as f32).collect()),
            DType::F64 => Storage::F64(values.to_vec()),
            DType::I32 => Storage::I32(values.iter().map(|&v| v as i32).collect()),
            DType::Bool => Storage::Bool(values.iter().map(|&v| u8::from(v != 0.0)).collect()),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Storage::F32(_) => DType::F32,
            Storage::F64(_) => DType::F64,
            Storage::I32(_) => DType::I32,
            Storage::Bool(_) => DType::Bool,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            Storage::F32(v) => v.len(),
            Storage::F64(v) => v.len(),
            Storage::I32(v) => v.len(),
            Storage::Bool(v) => v.len(),
        }
    }

    /// The address of the first element.
    pub fn as_ptr(&self) -> *const u8 {
        match self {
            Storage::F32(v) => v.as_ptr().cast(),
            Storage::F64(v) => v.as_ptr().cast(),
            Storage::I32(v) => v.as_ptr().cast(),
            Storage::Bool(v) => v.as_ptr(),
        }
    }

    /// The address of the first element, for writing.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        match self {
            Storage::F32(v) => v.as_mut_ptr().cast(),
            Storage::F64(v) => v.as_mut_ptr().cast(),
            Storage::I32(v) => v.as_mut_ptr().cast(),
            Storage::Bool(v) => v.as_mut_ptr(),
        }
    }

    /// The tensor's memory as storage of its dtype and element count, for reuse (the
    /// contents are whatever the tensor held, in memory order). `None` when the tensor's
    /// allocation is not exactly its elements (a view of a larger array), which is never
    /// the case for tensors this crate returns.
    pub fn reuse(t: Tensor) -> Option<Storage> {
        fn raw<A>(a: ArrayD<A>) -> Option<Vec<A>> {
            let len = a.len();
            let (v, _) = a.into_raw_vec_and_offset();
            (v.len() == len).then_some(v)
        }
        Some(match t {
            Tensor::F32(a) => Storage::F32(raw(a)?),
            Tensor::F64(a) => Storage::F64(raw(a)?),
            Tensor::I32(a) => Storage::I32(raw(a)?),
            Tensor::Bool(a) => {
                let mut v = std::mem::ManuallyDrop::new(raw(a)?);
                // SAFETY: `bool` and `u8` have the same size and alignment and every
                // `bool` is a valid `u8`, so the allocation is a valid `Vec<u8>`.
                Storage::Bool(unsafe {
                    Vec::from_raw_parts(v.as_mut_ptr().cast::<u8>(), v.len(), v.capacity())
                })
            }
        })
    }

    /// The tensor of `shape` (whose element count is `len`) holding these elements.
    pub fn into_tensor(self, shape: &[usize]) -> Tensor {
        let s = IxDyn(shape);
        let bad = "storage length matches the buffer's shape";
        match self {
            Storage::F32(v) => Tensor::F32(ArrayD::from_shape_vec(s, v).expect(bad)),
            Storage::F64(v) => Tensor::F64(ArrayD::from_shape_vec(s, v).expect(bad)),
            Storage::I32(v) => Tensor::I32(ArrayD::from_shape_vec(s, v).expect(bad)),
            Storage::Bool(mut v) => {
                // In place rather than into a fresh vector: no page faults per run. Kernels
                // write 0 or 1; the pass makes any other byte `true` rather than trusting it.
                for b in &mut v {
                    *b = u8::from(*b != 0);
                }
                let mut v = std::mem::ManuallyDrop::new(v);
                // SAFETY: every byte is now 0 or 1, a valid `bool` of the same size and
                // alignment, so the allocation is a valid `Vec<bool>`.
                let v = unsafe {
                    Vec::from_raw_parts(v.as_mut_ptr().cast::<bool>(), v.len(), v.capacity())
                };
                Tensor::Bool(ArrayD::from_shape_vec(s, v).expect(bad))
            }
        }
    }
}

/// The address of a standard-layout tensor's first element.
pub fn tensor_ptr(t: &Tensor) -> *const u8 {
    match t {
        Tensor::F32(a) => a.as_ptr().cast(),
        Tensor::F64(a) => a.as_ptr().cast(),
        Tensor::I32(a) => a.as_ptr().cast(),
        // `bool` is one byte holding 0 or 1: the layout generated code reads.
        Tensor::Bool(a) => a.as_ptr().cast(),
    }
}
