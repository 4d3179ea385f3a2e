//! Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random
//! numbers: as easy as 1, 2, 3", SC 2011).
//!
//! A draw is a pure function of (seed, stream, c0, c1, element index), so every
//! backend, thread count and chunking yields the same numbers, and resuming a run needs
//! only the counters. Each program statement that draws owns a `stream`; `c0`/`c1` are
//! the loop counters of the draw (iteration, step); the element index is the row-major
//! position in the drawn tensor. One Philox block gives four words: uniform element `i`
//! is word `i % 4` of block `i / 4`, and normal element `i` takes words `2(i % 2)` and
//! `2(i % 2) + 1` of block `i / 2` — so a vectorised kernel pays one block per four
//! uniforms (an environment's four-variable reset is one block).

/// Philox4x32 round multipliers and key increments (public so code generators that
/// emit the rounds inline use the very same constants).
pub const M0: u32 = 0xD251_1F53;
#[allow(missing_docs)]
pub const M1: u32 = 0xCD9E_8D57;
#[allow(missing_docs)]
pub const W0: u32 = 0x9E37_79B9;
#[allow(missing_docs)]
pub const W1: u32 = 0xBB67_AE85;
/// Multiplies the high half of a block index into the fourth counter word.
pub const HI_MIX: u32 = 0x2545_F491;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = (a as u64) * (b as u64);
    ((p >> 32) as u32, p as u32)
}

/// Ten Philox rounds on `counter` under `key`.
#[inline]
pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for _ in 0..10 {
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// The four random words of block `block` of one draw.
#[inline]
pub fn words(seed: u64, stream: u32, c0: i32, c1: i32, block: u64) -> [u32; 4] {
    // The high half of the block shares a word with the stream so tensors past 2^32
    // blocks still draw distinct numbers.
    let hi = ((block >> 32) as u32).wrapping_mul(HI_MIX) ^ stream;
    philox4x32(
        [block as u32, c0 as u32, c1 as u32, hi],
        [seed as u32, (seed >> 32) as u32],
    )
}

/// A word mapped to the open interval (0, 1): 24 bits, centred, exact in f32.
#[inline]
pub fn unit(word: u32) -> f64 {
    ((word >> 8) as f64 + 0.5) * (1.0 / 16_777_216.0)
}

/// Uniform on (0, 1) for one element: word `index % 4` of block `index / 4`.
#[inline]
pub fn uniform(seed: u64, stream: u32, c0: i32, c1: i32, index: u64) -> f64 {
    unit(words(seed, stream, c0, c1, index >> 2)[(index & 3) as usize])
}

/// Standard normal for one element (Box–Muller on words `2(index % 2)` and
/// `2(index % 2) + 1` of block `index / 2`).
#[inline]
pub fn normal(seed: u64, stream: u32, c0: i32, c1: i32, index: u64) -> f64 {
    let w = words(seed, stream, c0, c1, index >> 1);
    let pair = 2 * (index & 1) as usize;
    box_muller(unit(w[pair]), unit(w[pair + 1]))
}

/// The Box–Muller transform of two uniforms on (0, 1) (its cosine half), shared with
/// generated code so that inline draws round exactly as these do.
#[inline]
pub fn box_muller(u1: f64, u2: f64) -> f64 {
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors from the Random123 distribution's `kat_vectors` for
    /// philox4x32_10 (counter, key → output).
    #[test]
    fn philox_known_answers() {
        assert_eq!(
            philox4x32([0, 0, 0, 0], [0, 0]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn uniform_is_open_unit_interval_and_roughly_flat() {
        let n = 100_000u64;
        let mut sum = 0.0;
        for i in 0..n {
            let u = uniform(7, 3, 1, 2, i);
            assert!(u > 0.0 && u < 1.0);
            sum += u;
        }
        let mean = sum / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn normal_has_unit_moments() {
        let n = 100_000u64;
        let xs: Vec<f64> = (0..n).map(|i| normal(1, 0, 0, 0, i)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }

    #[test]
    fn streams_and_counters_differ() {
        let a = uniform(0, 0, 0, 0, 0);
        assert_ne!(a, uniform(0, 1, 0, 0, 0));
        assert_ne!(a, uniform(0, 0, 1, 0, 0));
        assert_ne!(a, uniform(0, 0, 0, 1, 0));
        assert_ne!(a, uniform(1, 0, 0, 0, 0));
        assert_ne!(a, uniform(0, 0, 0, 0, 1 << 34));
        // Neighbouring elements share a block but not a word.
        assert_ne!(a, uniform(0, 0, 0, 0, 1));
        assert_ne!(normal(0, 0, 0, 0, 0), normal(0, 0, 0, 0, 1));
    }

    #[test]
    fn elements_take_the_words_of_their_block() {
        let w = words(5, 2, 3, 4, 10);
        for k in 0..4 {
            assert_eq!(uniform(5, 2, 3, 4, 40 + k), unit(w[k as usize]));
        }
    }
}
