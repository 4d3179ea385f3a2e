//! Affine views: how the fusion pass reads a value without copying it.
//!
//! Why: broadcasting, transposing, slicing, reshaping and `x[t]` only move indices around.
//! Folding them into the index arithmetic of the loads that read them costs nothing at run
//! time, where materialising each would cost a pass over memory. A [`View`] is a value
//! expressed as an affine map over one buffer (or a constant), plus data-dependent terms
//! for dynamic indexing, which are bounds-checked where they are loaded.

use crate::kernel::{BufId, ValId};
use rlp_ir::NodeId;

/// What a view reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source {
    /// A materialised buffer.
    Buf(BufId),
    /// A rank-0 constant (`Const` node), already in the value's dtype.
    Const(f64),
}

/// The `i32` scalar a dynamic term multiplies: a graph node, or a value a kernel
/// builder has already computed (when a view crosses into a scan body, whose node ids
/// are a different namespace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexRef {
    /// A node of the graph the view belongs to.
    Node(NodeId),
    /// A value of the kernel being built.
    Val(ValId),
}

/// A data-dependent term of a view's offset: the scalar `index` times `stride`, valid
/// when the index lies in `0..bound`; `op`/`node` name the indexing op for the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynView {
    /// The index scalar.
    pub index: IndexRef,
    /// Its coefficient.
    pub stride: i64,
    /// The exclusive upper bound of a valid index.
    pub bound: u64,
    /// The indexing op's name.
    pub op: &'static str,
    /// The indexing node.
    pub node: NodeId,
}

/// Element `c` of the view is `source[offset + Σ c[d]·strides[d] + Σ dyn]`.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// What is read.
    pub source: Source,
    /// The value's shape.
    pub shape: Vec<usize>,
    /// The element offset of coordinate 0.
    pub offset: i64,
    /// Element strides, one per dim (0 for a broadcast dim).
    pub strides: Vec<i64>,
    /// Data-dependent offset terms.
    pub dynamic: Vec<DynView>,
}

/// Row-major strides of a shape.
pub fn row_major(shape: &[usize]) -> Vec<i64> {
    let mut strides = vec![0i64; shape.len()];
    let mut s = 1i64;
    for d in (0..shape.len()).rev() {
        strides[d] = s;
        s *= shape[d] as i64;
    }
    strides
}

impl View {
    /// The whole of a contiguous buffer, seen with `shape`.
    pub fn contiguous(buf: BufId, shape: &[usize]) -> View {
        View {
            source: Source::Buf(buf),
            shape: shape.to_vec(),
            offset: 0,
            strides: row_major(shape),
            dynamic: vec![],
        }
    }

    /// A constant seen with any shape.
    pub fn constant(value: f64, shape: &[usize]) -> View {
        View {
            source: Source::Const(value),
            shape: shape.to_vec(),
            offset: 0,
            strides: vec![0; shape.len()],
            dynamic: vec![],
        }
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The buffer, if this view is exactly that whole buffer in row-major order (so a
    /// native step or the caller can use the buffer as is).
    pub fn plain_buffer(&self, buf_len: impl Fn(BufId) -> usize) -> Option<BufId> {
        let Source::Buf(b) = self.source else {
            return None;
        };
        let n = self.numel();
        let dense = n == 0
            || self
                .shape
                .iter()
                .zip(&self.strides)
                .zip(row_major(&self.shape))
                .all(|((&d, &s), r)| d == 1 || s == r);
        (self.offset == 0 && self.dynamic.is_empty() && dense && buf_len(b) == n).then_some(b)
    }

    /// Numpy broadcasting to `to`: dims align to the right; size-1 dims repeat.
    pub fn broadcast(&self, to: &[usize]) -> View {
        let lead = to.len() - self.shape.len();
        let strides = (0..to.len())
            .map(|d| {
                if d < lead || self.shape[d - lead] == 1 {
                    0
                } else {
                    self.strides[d - lead]
                }
            })
            .collect();
        View {
            shape: to.to_vec(),
            strides,
            ..self.clone()
        }
    }

    /// `out.shape[i] = shape[perm[i]]`.
    pub fn transpose(&self, perm: &[usize]) -> View {
        View {
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            ..self.clone()
        }
    }

    /// `start..end` along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize) -> View {
        let mut v = self.clone();
        v.offset += start as i64 * self.strides[axis];
        v.shape[axis] = end - start;
        v
    }

    /// `x[t]` for an `i32` scalar `t`: drops axis 0, adds a checked dynamic term.
    pub fn index(&self, t: IndexRef, node: NodeId) -> View {
        let mut v = self.clone();
        let bound = self.shape[0] as u64;
        v.dynamic.push(DynView {
            index: t,
            stride: self.strides[0],
            bound,
            op: "dyn_index",
            node,
        });
        v.shape.remove(0);
        v.strides.remove(0);
        v
    }

    /// The same elements in row-major order with `shape`, if that is an affine view of
    /// the same source (it is whenever each run of merged or split dims is contiguous
    /// within itself, as numpy's no-copy reshape).
    pub fn reshape(&self, shape: &[usize]) -> Option<View> {
        let with = |strides: Vec<i64>| View {
            shape: shape.to_vec(),
            strides,
            ..self.clone()
        };
        if self.numel() == 0 {
            return Some(with(vec![0; shape.len()]));
        }
        // Size-1 dims carry no stride information; drop them on both sides.
        let old: Vec<(usize, i64)> = self
            .shape
            .iter()
            .zip(&self.strides)
            .filter(|(d, _)| **d != 1)
            .map(|(&d, &s)| (d, s))
            .collect();
        let new_dims: Vec<usize> = (0..shape.len()).filter(|&i| shape[i] != 1).collect();
        let mut strides = vec![0i64; shape.len()];
        let (mut i, mut j) = (0, 0);
        while i < old.len() && j < new_dims.len() {
            // Grow a group of old dims [i, i2) and new dims [j, j2) with equal products.
            let (mut i2, mut j2) = (i + 1, j + 1);
            let (mut po, mut pn) = (old[i].0, shape[new_dims[j]]);
            while po != pn {
                if po < pn {
                    po *= old[i2].0;
                    i2 += 1;
                } else {
                    pn *= shape[new_dims[j2]];
                    j2 += 1;
                }
            }
            // Within the old group, each dim must step exactly over the next one.
            if (i..i2 - 1).any(|a| old[a].1 != old[a + 1].1 * old[a + 1].0 as i64) {
                return None;
            }
            let mut s = old[i2 - 1].1;
            for &nd in new_dims[j..j2].iter().rev() {
                strides[nd] = s;
                s *= shape[nd] as i64;
            }
            (i, j) = (i2, j2);
        }
        Some(with(strides))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf() -> View {
        View::contiguous(BufId(0), &[2, 3, 4])
    }

    #[test]
    fn reshape_of_contiguous_is_row_major() {
        let v = buf().reshape(&[6, 4]).unwrap();
        assert_eq!(v.strides, vec![4, 1]);
        let v = buf().reshape(&[24, 1]).unwrap();
        assert_eq!(v.strides[0], 1);
        let v = buf().reshape(&[2, 12]).unwrap();
        assert_eq!(v.strides, vec![12, 1]);
    }

    #[test]
    fn reshape_of_transpose_is_refused_when_it_would_interleave() {
        let t = buf().transpose(&[2, 1, 0]); // [4,3,2], strides [1,4,12]
        assert!(t.reshape(&[24]).is_none());
        // Splitting one transposed dim is fine.
        let t2 = View::contiguous(BufId(0), &[6, 4]).transpose(&[1, 0]); // [4,6] strides [1,4]
        let r = t2.reshape(&[4, 2, 3]).unwrap();
        assert_eq!(r.strides, vec![1, 12, 4]);
    }

    #[test]
    fn broadcast_and_plain() {
        let v = View::contiguous(BufId(1), &[3]);
        let b = v.broadcast(&[2, 3]);
        assert_eq!(b.strides, vec![0, 1]);
        assert_eq!(b.plain_buffer(|_| 3), None);
        assert_eq!(v.plain_buffer(|_| 3), Some(BufId(1)));
        assert_eq!(
            v.reshape(&[1, 3, 1]).unwrap().plain_buffer(|_| 3),
            Some(BufId(1))
        );
    }

    #[test]
    fn slice_and_index_offsets() {
        let v = buf()
            .slice(1, 1, 3)
            .index(IndexRef::Node(NodeId(9)), NodeId(10));
        assert_eq!(v.shape, vec![2, 4]);
        assert_eq!(v.offset, 4);
        assert_eq!(v.dynamic[0].stride, 12);
        assert_eq!(v.dynamic[0].bound, 2);
    }
}
