//! Reduced-precision weights for generation: the formats and their host-side conversion, the
//! spec every backend's [`Backend::quantize`](crate::Backend::quantize) follows.
//!
//! A batch-1 generation step reads every weight once per token, so its speed is the bandwidth
//! of the cache level the weights live in ([`Backend::qgemv`](crate::Backend::qgemv) moves
//! 2 or 1 bytes per weight instead of 4). Only the weights are converted (and, for `w8a16` and
//! `w8a8`, each product's input); the state and every other value stay `f32`.
//!
//! - `bf16`: the upper 16 bits of the `f32`, rounded to nearest, ties to even (NaN stays NaN).
//! - `int8`: per output row `r`, `scale_r = max_c |W[r, c]| / 127` and
//!   `q = round(W / scale_r)` in `-127 ..= 127` (symmetric; a zero row has scale 0); the
//!   product is `scale_r · Σ_c q[r, c] · x_c`.
//! - `w8a16`: the weights of `int8`, and each product also rounds its input vector `x` to
//!   16-bit integers: `s_x = max_c |x_c| / 32767`, `a = round(x · (32767 / max_c |x_c|))`
//!   (to nearest, ties to even) in `-32767 ..= 32767`;
//!   the product is `(Σ_c q[r, c] · a_c) · s_x · scale_r`, the sum exact in integers. Each
//!   input moves by at most `s_x / 2`, a 2⁻¹⁶ of the largest: integer dot products (AVX-512
//!   VNNI) take 64 multiply-adds an instruction where `int8`'s convert-and-FMA takes 16 in
//!   three.
//! - `w8a8`: the same with 8-bit inputs, `s_x = max_c |x_c| / 127` and codes in `-127 ..= 127`
//!   (as PyTorch's dynamically quantized LSTM): one integer dot product per 64 weights where
//!   `w8a16` takes two (one per byte of its codes), so products of many streams run about
//!   twice as fast; each input is off by at most a 2⁻⁸ of the row's largest.

use std::fmt;
use std::str::FromStr;

/// Storage precision of the weights a generator multiplies by.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats: the trained weights as they are.
    #[default]
    F32,
    /// bfloat16: 8 exponent and 7 mantissa bits (relative rounding error ≤ 2⁻⁸).
    Bf16,
    /// 8-bit integers with one `f32` scale per output row.
    Int8,
    /// `int8` weights, each product's input rounded to 16-bit integers (see the module docs).
    W8a16,
    /// `int8` weights, each product's input rounded to 8-bit integers (see the module docs).
    W8a8,
}

impl Precision {
    /// Every precision, in the order the CLI lists them.
    pub const ALL: [Precision; 5] = [
        Precision::F32,
        Precision::Bf16,
        Precision::Int8,
        Precision::W8a16,
        Precision::W8a8,
    ];

    /// The name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
            Precision::W8a16 => "w8a16",
            Precision::W8a8 => "w8a8",
        }
    }

    /// Bytes one stored weight takes (the row scales of `int8` not counted).
    pub fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::Bf16 => 2,
            Precision::Int8 | Precision::W8a16 | Precision::W8a8 => 1,
        }
    }

    /// The largest code each product rounds its inputs to (`w8a16` 32767, `w8a8` 127), or
    /// `None` where the inputs stay `f32`.
    pub fn input_codes(self) -> Option<i32> {
        match self {
            Precision::W8a16 => Some(32767),
            Precision::W8a8 => Some(127),
            Precision::F32 | Precision::Bf16 | Precision::Int8 => None,
        }
    }

    /// Whether each product rounds its inputs (so no copy of the weights computes it alone).
    pub fn rounds_inputs(self) -> bool {
        self.input_codes().is_some()
    }

    /// Replaces each value of the `[rows, cols]` row-major `w` by what this precision stores
    /// for it, converted back to `f32` ("fake quantization": a model evaluated on these
    /// weights computes what the reduced-precision products compute, up to summation order;
    /// the rounding of `w8a16`'s and `w8a8`'s inputs is not in the weights, see
    /// [`round_activations`]).
    pub fn round_trip(self, w: &mut [f32], cols: usize) {
        match self {
            Precision::F32 => {}
            Precision::Bf16 => w.iter_mut().for_each(|x| *x = bf16_to_f32(f32_to_bf16(*x))),
            Precision::Int8 | Precision::W8a16 | Precision::W8a8 => {
                for row in w.chunks_mut(cols.max(1)) {
                    let (q, scale) = int8_row(row);
                    for (x, q) in row.iter_mut().zip(q) {
                        *x = f32::from(q) * scale;
                    }
                }
            }
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A precision name that is not one of [`Precision::ALL`]'s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown precision {0:?}: expected one of \"f32\", \"bf16\", \"int8\", \"w8a16\", \"w8a8\""
)]
pub struct UnknownPrecision(pub String);

impl FromStr for Precision {
    type Err = UnknownPrecision;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownPrecision(s.to_string()))
    }
}

/// `x` as bfloat16 bits, rounded to nearest with ties to even; NaN stays a (quiet) NaN.
pub fn f32_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let round = 0x7FFF + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// The `f32` a bfloat16 stands for (exact).
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// The rounding of one input vector to codes up to `top` ([`Precision::input_codes`]: 32767
/// for `w8a16`, 127 for `w8a8`): the codes `round(x · top / max |x|)` (to nearest, ties to
/// even) in `-top ..= top`, and the scale `s = max |x| / top` (0 for a zero vector; NaN when `x`
/// has a non-finite value, so the product is NaN as an `f32` one would be).
pub fn input_row(x: &[f32], top: i32, codes: &mut Vec<i32>) -> f32 {
    let (s, inv) = input_scale(x, top);
    codes.clear();
    codes.extend(x.iter().map(|&v| input_code(v, inv, top)));
    s
}

/// The scale of `x` and the factor its codes are made with (see [`input_row`]).
#[inline]
pub fn input_scale(x: &[f32], top: i32) -> (f32, f32) {
    // `max` ignores NaN, so look for non-finite values apart (one pass each, both vectorise).
    let max = x.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
    let finite = x.iter().fold(true, |ok, v| ok & v.is_finite());
    input_scale_of(max, finite, top)
}

/// [`input_scale`] from a row's largest magnitude and whether all its values are finite.
#[inline]
pub(crate) fn input_scale_of(max: f32, finite: bool, top: i32) -> (f32, f32) {
    let top = top as f32;
    match (finite, max == 0.0) {
        (false, _) => (f32::NAN, 0.0),
        (true, true) => (0.0, 0.0),
        (true, false) => (max / top, top / max),
    }
}

/// One code of [`input_row`] (`inv` from [`input_scale`]).
#[inline(always)]
pub fn input_code(v: f32, inv: f32, top: i32) -> i32 {
    // |v · inv| ≤ top ≤ 32767 (NaN aside), where adding 1.5 · 2²³ leaves a unit in the last
    // place of 1: the sum rounds to the nearest integer, ties to even, exactly as
    // `round_ties_even` would, without a libm call on CPUs lacking a rounding instruction.
    const MAGIC: f32 = 12_582_912.0;
    let r = (v * inv + MAGIC) - MAGIC;
    let top = top as f32;
    // Saturating: a non-finite `v` (whose row has a NaN scale) gives some code, never UB.
    r.clamp(-top, top) as i32
}

/// Replaces each value of `x` by its rounding to codes up to `top` (`s · round(x / s)`, see
/// [`input_row`]): what a `w8a16` (`top` 32767) or `w8a8` (127) product multiplies by.
pub fn round_activations(x: &mut [f32], top: i32) {
    let mut codes = Vec::new();
    let s = input_row(x, top, &mut codes);
    for (v, &c) in x.iter_mut().zip(&codes) {
        *v = c as f32 * s;
    }
}

/// One row as symmetric int8 codes and its scale (`max |x| / 127`; 0 for a zero row).
pub fn int8_row(row: &[f32]) -> (Vec<i8>, f32) {
    if row.iter().any(|x| !x.is_finite()) {
        // A non-finite row cannot be scaled: keep it visible as NaN rather than silently 0.
        return (vec![0; row.len()], f32::NAN);
    }
    let max = row.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    if max == 0.0 {
        return (vec![0; row.len()], 0.0);
    }
    let scale = max / 127.0;
    let q = row
        .iter()
        .map(|&x| (x / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_even_and_keeps_specials() {
        // 1 + 2⁻⁸ is halfway between two bf16 values: ties go to the even one (1.0).
        assert_eq!(bf16_to_f32(f32_to_bf16(1.0 + 1.0 / 256.0)), 1.0);
        // 1 + 3·2⁻⁸ is halfway too: the even neighbour is 1 + 2⁻⁶.
        assert_eq!(
            bf16_to_f32(f32_to_bf16(1.0 + 3.0 / 256.0)),
            1.0 + 1.0 / 64.0
        );
        // Just above halfway rounds up.
        assert_eq!(
            bf16_to_f32(f32_to_bf16(1.0 + 1.0 / 256.0 + 1e-6)),
            1.0 + 1.0 / 128.0
        );
        assert!(bf16_to_f32(f32_to_bf16(f32::NAN)).is_nan());
        assert_eq!(bf16_to_f32(f32_to_bf16(f32::INFINITY)), f32::INFINITY);
        assert_eq!(
            bf16_to_f32(f32_to_bf16(-0.0)).to_bits(),
            (-0.0f32).to_bits()
        );
        // Relative error at most 2⁻⁸ (half a unit in the 8th bit) over many magnitudes.
        for i in 1..2000 {
            let x = (i as f32 * 0.7311).sin() * 10f32.powi(i % 7 - 3);
            let y = bf16_to_f32(f32_to_bf16(x));
            assert!((y - x).abs() <= x.abs() / 256.0, "{x} -> {y}");
        }
    }

    #[test]
    fn int8_rows_are_symmetric_and_within_half_a_step() {
        let row = [0.5f32, -1.27, 0.003, 1.0, 0.0];
        let (q, scale) = int8_row(&row);
        assert_eq!(scale, 1.27 / 127.0);
        assert_eq!(q[1], -127);
        for (&x, &q) in row.iter().zip(&q) {
            assert!((f32::from(q) * scale - x).abs() <= scale / 2.0 * 1.0001);
        }
        assert_eq!(int8_row(&[0.0; 3]), (vec![0; 3], 0.0));
        assert!(int8_row(&[1.0, f32::NAN]).1.is_nan());
        assert!(int8_row(&[1.0, f32::INFINITY]).1.is_nan());
        let mut w = row.to_vec();
        Precision::Int8.round_trip(&mut w, 5);
        assert_eq!(w[1], -1.27);
        // Round-tripping again changes nothing.
        let again = w.clone();
        Precision::Int8.round_trip(&mut w, 5);
        assert_eq!(w, again);
    }

    /// What codes of every width share: those of `x` (its largest magnitude at index 1) lie
    /// within `±top` and half a step of their value, the largest at `−top`; the fast rounding
    /// equals `round_ties_even` over `sweep` multiples of 0.4687 either side of zero; a NaN
    /// makes the scale NaN; `round_activations` rounds in place.
    fn codes_keep_the_spec(x: &[f32], top: i32, sweep: i32) {
        let mut codes = Vec::new();
        let s = input_row(x, top, &mut codes);
        assert_eq!(s, x[1].abs() / top as f32);
        assert_eq!(codes[1], -top);
        for (&v, &c) in x.iter().zip(&codes) {
            assert!((-top..=top).contains(&c));
            assert!((c as f32 * s - v).abs() <= s / 2.0 * 1.0001, "{v} -> {c}");
        }
        for i in -sweep..sweep {
            let t = i as f32 * 0.4687;
            let want = t.round_ties_even().clamp(-top as f32, top as f32) as i32;
            assert_eq!(input_code(t, 1.0, top), want, "{t}");
        }
        assert!(input_row(&[1.0, f32::NAN], top, &mut codes).is_nan());
        let mut r = [0.5f32, -1.0, 0.123456];
        round_activations(&mut r, top);
        assert_eq!(r[1], -1.0);
        assert!((r[2] - 0.123456).abs() <= 0.5 / top as f32 && r[2] != 0.123456);
    }

    #[test]
    fn a16_codes_are_within_half_a_step_and_ties_go_to_even() {
        codes_keep_the_spec(&[0.5f32, -1.0, 0.25, 1e-7, 0.0, -0.3333], 32767, 70_000);
        let mut codes = Vec::new();
        // 2.5 against a max of 32767 is an exact tie between 2 and 3: even is 2 (half away from
        // zero would give 3); −3.5 goes to the even −4.
        assert_eq!(input_row(&[2.5, 32767.0], 32767, &mut codes), 1.0);
        assert_eq!(codes, [2, 32767]);
        assert_eq!(input_row(&[-3.5, 32767.0], 32767, &mut codes), 1.0);
        assert_eq!(codes, [-4, 32767]);
        assert_eq!(input_row(&[0.0; 4], 32767, &mut codes), 0.0);
        assert_eq!(codes, [0; 4]);
        assert!(input_row(&[1.0, f32::NEG_INFINITY], 32767, &mut codes).is_nan());
    }

    #[test]
    fn a8_codes_are_within_half_a_step_and_ties_go_to_even() {
        codes_keep_the_spec(&[0.5f32, -1.27, 0.25, 1e-7, 0.0, -0.3333], 127, 400);
        let mut codes = Vec::new();
        // Exact ties against a max of 127: 2.5 → 2, −3.5 → −4, 126.5 → 126.
        assert_eq!(input_row(&[2.5, -3.5, 126.5, 127.0], 127, &mut codes), 1.0);
        assert_eq!(codes, [2, -4, 126, 127]);
        assert_eq!(Precision::W8a8.input_codes(), Some(127));
        assert_eq!(Precision::W8a16.input_codes(), Some(32767));
        assert!(!Precision::Int8.rounds_inputs());
    }

    #[test]
    fn names_parse_back_and_unknown_names_are_refused() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>(), Ok(p));
        }
        let err = "fp16".parse::<Precision>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown precision \"fp16\": expected one of \"f32\", \"bf16\", \"int8\", \"w8a16\", \"w8a8\""
        );
    }
}
