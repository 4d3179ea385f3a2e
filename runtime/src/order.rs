//! Ranking of rows — the one definition of `top_k` every backend calls, so that ties and
//! NaNs come out the same everywhere.
//!
//! The order is descending by value under IEEE total order (a NaN ranks above +∞, −0
//! below +0), ties by the lower index first: a strict total order on (value, index), so
//! the k positions and their order never depend on the algorithm that finds them.

use std::cmp::Ordering;

/// Values a row can hold, compared by total order.
pub trait Ranked: Copy {
    fn rank_cmp(&self, other: &Self) -> Ordering;
}

impl Ranked for f32 {
    fn rank_cmp(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
}

impl Ranked for f64 {
    fn rank_cmp(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
}

impl Ranked for i32 {
    fn rank_cmp(&self, other: &Self) -> Ordering {
        self.cmp(other)
    }
}

/// For each of the `x.len() / len` rows of `x`, the positions of its `k` largest values,
/// largest first, written to `out` (`k` per row). `scratch` is reused between rows.
///
/// Why a selection and then a sort: CEM keeps ~10% of hundreds of candidates, so finding
/// the k first (O(len)) and sorting only those (O(k log k)) beats sorting every row.
pub fn top_k_rows<T: Ranked>(x: &[T], len: usize, k: usize, out: &mut [i32]) {
    assert!(k <= len, "top_k takes at most a row's length");
    if k == 0 || len == 0 {
        return;
    }
    let before = |a: &u32, b: &u32| {
        let (a, b) = (*a as usize, *b as usize);
        x_cmp(x, a, b)
    };
    let mut scratch: Vec<u32> = Vec::with_capacity(len);
    for (row, dst) in out.chunks_exact_mut(k).enumerate() {
        let base = row * len;
        scratch.clear();
        scratch.extend((base..base + len).map(|i| i as u32));
        if k < len {
            scratch.select_nth_unstable_by(k - 1, before);
        }
        scratch[..k].sort_unstable_by(before);
        for (d, &i) in dst.iter_mut().zip(&scratch[..k]) {
            *d = (i as usize - base) as i32;
        }
    }
}

/// `a` before `b`: the larger value first, then the lower position.
fn x_cmp<T: Ranked>(x: &[T], a: usize, b: usize) -> Ordering {
    x[b].rank_cmp(&x[a]).then(a.cmp(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_first_ties_by_position() {
        let x = [1.0f32, 3.0, 3.0, -1.0, 2.0, 0.5];
        let mut out = [0i32; 3];
        top_k_rows(&x, 6, 3, &mut out);
        assert_eq!(out, [1, 2, 4]);
    }

    #[test]
    fn rows_are_ranked_separately_and_nan_ranks_first() {
        let x = [0.0f64, f64::NAN, f64::INFINITY, 5.0, 4.0, 6.0];
        let mut out = [0i32; 4];
        top_k_rows(&x, 3, 2, &mut out);
        assert_eq!(out, [1, 2, 2, 0]);
    }

    #[test]
    fn selection_agrees_with_a_full_sort() {
        // A fixed pseudo-random row with many ties.
        let x: Vec<i32> = (0..200).map(|i| (i * 7919) % 31).collect();
        let mut full: Vec<i32> = (0..200).collect();
        full.sort_by(|&a, &b| x_cmp(&x, a as usize, b as usize));
        for k in [1, 2, 17, 199, 200] {
            let mut out = vec![0i32; k];
            top_k_rows(&x, 200, k, &mut out);
            assert_eq!(out, full[..k], "k = {k}");
        }
    }
}
