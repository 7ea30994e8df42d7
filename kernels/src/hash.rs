//! Counter-based random numbers: the same `(seed, index)` gives the same value on every device,
//! so dropout masks need no RNG state and CPU/GPU runs draw identical masks.

/// SplitMix64 finaliser of `seed` and `index`: a well-mixed 64-bit value.
#[inline]
pub fn mix64(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform `f32` in `[0, 1)` from `(seed, index)` (24 random mantissa bits).
#[inline]
pub fn uniform(seed: u64, index: u64) -> f32 {
    (mix64(seed, index) >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}
