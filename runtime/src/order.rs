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

/// How many of `row`'s leading elements are `<= x`, by bisection: `search_sorted`'s one
/// definition, which every backend follows step for step.
///
/// On a sorted row that is the count of elements `<= x`. On an unsorted one (a cumulative
/// sum of signed values, say) bisection answers something else, so the exact sequence
/// of probes is part of the definition: halve the live range `[base, base + size)` at
/// `base + size/2`, keep the upper half when that element is `<= x`, and finally test
/// the last candidate.
pub fn count_le<T: PartialOrd + Copy>(row: &[T], x: T) -> usize {
    let mut size = row.len();
    if size == 0 {
        return 0;
    }
    let mut base = 0;
    while size > 1 {
        let half = size / 2;
        let mid = base + half;
        if row[mid] <= x {
            base = mid;
        }
        size -= half;
    }
    base + usize::from(row[base] <= x)
}

/// `a` before `b`: the larger value first, then the lower position.
fn x_cmp<T: Ranked>(x: &[T], a: usize, b: usize) -> Ordering {
    x[b].rank_cmp(&x[a]).then(a.cmp(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn count_le_bisects_as_the_standard_partition_point() {
        // Equal to the standard library's bisection on sorted and unsorted rows alike.
        let mut state = 7u64;
        for len in 0..40usize {
            for _ in 0..20 {
                let row: Vec<i32> = (0..len)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        (state >> 59) as i32 - 8
                    })
                    .collect();
                for x in -9..9 {
                    assert_eq!(
                        super::count_le(&row, x),
                        row.partition_point(|&e| e <= x),
                        "{row:?} {x}"
                    );
                }
            }
        }
    }

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
