//! Products against weights stored at reduced precision ([`Precision`]): `y (+)= W · x` for
//! `W` `[n, k]`, the per-token GEMVs of generation.
//!
//! `W` is packed once into panels of [`P`] = 32 output rows, `[k][32]` each (zero-padded), so
//! that each step `i` of a panel reads one contiguous run (128 bytes f32, 64 bf16, 32 int8).
//! bf16 pairs are interleaved so that AVX2 and AVX-512 split them without a shuffle: 32-bit
//! lane `l` of a step holds output `l` in its low half and output `l + 16` in its high half,
//! and a shift or a mask turns a load into `f32`s. Every output is one fused multiply-add
//! chain over `i = 0 … k − 1` on every path (portable, AVX2, AVX-512), so all three give
//! bit-identical results; only how many outputs run side by side differs.
//!
//! `w8a16` packs each panel in quads of steps, `[k / 4][32][4]` (each output's four weights of
//! a quad side by side, as AVX-512 VNNI's `vpdpbusd` multiplies them), and rounds each input
//! row to 16-bit codes `a`, split into bytes of `a + 32768` (`hi`, `lo`): the products
//! `Σ q · hi` and `Σ q · lo` are exact in `i32` and give `Σ q · a = 256 Σ q·hi + Σ q·lo −
//! 32768 Σ q`. Integer sums do not depend on order, so every path is bit-identical here too.
//! `w8a8` packs its weights alike and rounds each input row to 8-bit codes, kept as one byte
//! row `a + 128`: `Σ q · a = Σ q·(a + 128) − 128 Σ q`, one `vpdpbusd` per quad where `w8a16`
//! needs two.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::aligned::Aligned;
use super::amx;
use super::spin::{join_halves, Helper};
use crate::precision::{f32_to_bf16, input_code, input_scale, input_scale_of, int8_row};
use crate::Precision;

/// Output rows per panel.
pub(crate) const P: usize = 32;

/// Products of fewer rows than this split their panels between two threads, more split their
/// rows (see [`gemv`]); matrices of [`BIG_MATRIX`] bytes or more up to twice as many rows.
/// Measured (2 threads, w8a16 and int8, interleaved A/B): the panel split doubles preset L at
/// 2 and 4 streams and M int8 gains 18 %; at 8 and 12 streams it helps L (1 MiB matrices:
/// 63 k → 97 k tokens/s at 8) but costs M (256 KiB matrices, in L2 either way: 227 k → 166 k
/// at 12).
const PANEL_SPLIT_ROWS: usize = 8;

/// Stored bytes from which a matrix splits its panels for up to `2 · PANEL_SPLIT_ROWS` rows.
const BIG_MATRIX: usize = 512 * 1024;

/// The instruction set a product runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Plain Rust (`f32::mul_add`).
    Portable,
    /// AVX2 + FMA: two panels (64 outputs, eight 8-lane accumulators) at a time.
    Avx2,
    /// AVX-512F: four panels (128 outputs, eight 16-lane accumulators) at a time.
    Avx512,
}

impl Isa {
    /// The widest instruction set this CPU has, checked once.
    pub(crate) fn detect() -> Isa {
        static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *ISA.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return Isa::Avx512;
                }
                if super::fastmath::has_avx2_fma() {
                    return Isa::Avx2;
                }
            }
            Isa::Portable
        })
    }

    /// Every instruction set this CPU can run (for the tests that compare them).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Isa> {
        let best = Isa::detect();
        [Isa::Portable, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|&i| match i {
                Isa::Portable => true,
                Isa::Avx2 => best != Isa::Portable,
                Isa::Avx512 => best == Isa::Avx512,
            })
            .collect()
    }
}

/// `y[r] (+)= W · x[r]` for the `m` rows of `x` (`k` each) and `y` (`n` each), on the widest
/// instruction set (`w8a16` products of [`amx::MIN_ROWS`] rows or more on AMX tiles where the
/// CPU has them). Batch 1 and a few rows ([`PANEL_SPLIT_ROWS`]) split the panels between two
/// threads like an f32 batch-1 product ([`super::gemv::split_rows`]), more rows split the
/// rows; both through `spin` when there is one (a rayon wake-up costs more than a small
/// product). Each output is still one chain (or one exact integer sum), so the result does
/// not depend on the split.
pub(crate) fn gemv(
    w: &QWeights,
    m: usize,
    x: &[f32],
    y: &mut [f32],
    accumulate: bool,
    threads: usize,
    spin: Option<&Helper>,
) {
    let split = Split::of(w, m, threads, spin.is_some());
    if !(w.rounds_inputs() && split != Split::Rows) {
        return gemv_rounded(w, m, x, None, y, accumulate, split, spin);
    }
    // w8a16 and w8a8, unless each thread has rows of its own: every thread multiplies the same
    // inputs, rounded once here.
    with_rounded(w, x, m, |a| {
        gemv_rounded(w, m, x, Some(a), y, accumulate, split, spin)
    })
}

/// `y (+)= W_a · x_a + W_b · x_b` for one row (`W_a`, `W_b` of `n` outputs each): exactly
/// [`gemv`] of `a`, then of `b` accumulating (each output's two sums added in that order), but
/// where both split their panels, each thread runs its half of both in one hand-off (a layer's
/// input and recurrent products: one hand-off a layer instead of two).
pub(crate) fn gemv_pair(
    (wa, xa): (&QWeights, &[f32]),
    (wb, xb): (&QWeights, &[f32]),
    y: &mut [f32],
    accumulate: bool,
    threads: usize,
    spin: Option<&Helper>,
) {
    let paired = spin.is_some()
        && wa.n == wb.n
        && Split::of(wa, 1, threads, true) == Split::Panels
        && Split::of(wb, 1, threads, true) == Split::Panels;
    if !paired {
        gemv(wa, 1, xa, y, accumulate, threads, spin);
        return gemv(wb, 1, xb, y, true, threads, spin);
    }
    let (n, isa, panels) = (wa.n, Isa::detect(), wa.panels());
    let mid = panels / 2;
    let (y0, y1) = y[..n].split_at_mut(mid * P);
    // w8a16 and w8a8 round each input once, here, for both threads.
    with_rounded_in(0, wa, xa, 1, |ra| {
        with_rounded_in(1, wb, xb, 1, |rb| {
            let both = |p0: usize, p1: usize, y: &mut [f32]| {
                let ldy = y.len();
                let ra = ra.map(|a| a.rows(0));
                wa.run_panels(isa, p0, p1, 1, xa, ra, y, ldy, accumulate);
                let rb = rb.map(|a| a.rows(0));
                wb.run_panels(isa, p0, p1, 1, xb, rb, y, ldy, true);
            };
            join_halves(
                spin,
                y0,
                y1,
                |y0| both(0, mid, y0),
                |y1| both(mid, panels, y1),
            );
        })
    });
}

/// How [`gemv`] shares a product between two threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Split {
    /// One thread: too small to pay for a hand-off.
    One,
    /// Each thread takes half the panels of every row (batch 1 and a few rows: each reads half
    /// the weights).
    Panels,
    /// Each thread takes whole blocks of rows (many rows: each converts a panel once per block).
    Rows,
}

impl Split {
    /// The split of an `m`-row product of `w` on `threads` threads (`hot`: through the
    /// spinning helper).
    fn of(w: &QWeights, m: usize, threads: usize, hot: bool) -> Split {
        let panels = w.panels();
        let few = match panels * P * w.k * w.precision.bytes() >= BIG_MATRIX {
            true => 2 * PANEL_SPLIT_ROWS,
            false => PANEL_SPLIT_ROWS,
        };
        if !super::gemv::split_rows(m.saturating_mul(w.n), w.k, threads, hot) {
            Split::One
        } else if m < few {
            // (A single panel cannot be halved: its rows are split instead.)
            if panels >= 2 {
                Split::Panels
            } else if m > 1 {
                Split::Rows
            } else {
                Split::One
            }
        } else {
            Split::Rows
        }
    }
}

/// Runs `f` with `w`'s rounding of the `m` rows of `x` (`w8a16` or `w8a8` weights), made in
/// this thread's buffers (a product per layer and token: no allocation each time).
fn with_rounded<R>(w: &QWeights, x: &[f32], m: usize, f: impl FnOnce(&Rounded) -> R) -> R {
    with_rounded_in(0, w, x, m, |a| {
        f(a.expect("weights that round their inputs"))
    })
}

/// [`with_rounded`] in this thread's buffer `slot` (0 or 1: [`gemv_pair`] holds two at once);
/// `f` gets `None` for weights that do not round their inputs.
fn with_rounded_in<R>(
    slot: usize,
    w: &QWeights,
    x: &[f32],
    m: usize,
    f: impl FnOnce(Option<&Rounded>) -> R,
) -> R {
    thread_local! {
        static ROUNDED_ROWS: [std::cell::RefCell<Rounded>; 2] = Default::default();
    }
    let Some(top) = w.precision.input_codes() else {
        return f(None);
    };
    ROUNDED_ROWS.with(|bufs| {
        let mut a = bufs[slot].borrow_mut();
        a.fill(x, m, w.k, top);
        f(Some(&a))
    })
}

/// [`gemv`] with the rounded inputs of `w8a16` or `w8a8` weights (`None` with a row split,
/// where each thread rounds its own rows), shared between threads as `split` says.
#[allow(clippy::too_many_arguments)]
fn gemv_rounded(
    w: &QWeights,
    m: usize,
    x: &[f32],
    rounded: Option<&Rounded>,
    y: &mut [f32],
    accumulate: bool,
    split: Split,
    spin: Option<&Helper>,
) {
    let (n, k, isa) = (w.n, w.k, Isa::detect());
    let panels = w.panels();
    let run = |p0: usize, p1: usize, r0: usize, rows: usize, y: &mut [f32], ldy: usize| {
        let x = &x[r0 * k..];
        match rounded {
            Some(a) => w.run_panels(isa, p0, p1, rows, x, Some(a.rows(r0)), y, ldy, accumulate),
            None if w.rounds_inputs() => with_rounded(w, x, rows, |a| {
                w.run_panels(isa, p0, p1, rows, x, Some(a.rows(0)), y, ldy, accumulate)
            }),
            None => w.run_panels(isa, p0, p1, rows, x, None, y, ldy, accumulate),
        }
    };
    match split {
        Split::One => run(0, panels, 0, m, y, n),
        Split::Panels if m == 1 => {
            let mid = panels / 2;
            let (y0, y1) = y[..n].split_at_mut(mid * P);
            join_halves(
                spin,
                y0,
                y1,
                |y0| run(0, mid, 0, 1, y0, y0.len()),
                |y1| run(mid, panels, 0, 1, y1, y1.len()),
            );
        }
        Split::Panels => {
            // The second half's outputs go through a scratch block (`y`'s rows interleave the
            // two halves).
            let (mid, w1) = (panels / 2, n - panels / 2 * P);
            thread_local! {
                static RIGHT: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
            }
            RIGHT.with_borrow_mut(|right| {
                right.clear();
                right.resize(m * w1, 0.0);
                let cols = |r: usize| r * n + (n - w1)..(r + 1) * n;
                if accumulate {
                    for (r, dst) in right.chunks_exact_mut(w1).enumerate() {
                        dst.copy_from_slice(&y[cols(r)]);
                    }
                }
                join_halves(
                    spin,
                    &mut y[..m * n],
                    &mut right[..],
                    |y| run(0, mid, 0, m, y, n),
                    |right| run(mid, panels, 0, m, right, w1),
                );
                for (r, src) in right.chunks_exact(w1).enumerate() {
                    y[cols(r)].copy_from_slice(src);
                }
            });
        }
        Split::Rows => {
            // Whole blocks to the first thread where there are two or more, else half the rows.
            let (rows, _) = w.blocking(isa, m);
            let half = if m >= 2 * rows {
                (m / 2).div_ceil(rows) * rows
            } else {
                m.div_ceil(2)
            };
            let (y0, y1) = y.split_at_mut(half * n);
            join_halves(
                spin,
                y0,
                y1,
                |y0| run(0, panels, 0, half, y0, n),
                |y1| run(0, panels, half, m - half, y1, n),
            );
        }
    }
}

/// The inputs of `w8a16` and `w8a8` products: each row of `x` rounded to codes `a`
/// ([`input_row`](crate::precision::input_row)), padded to whole quads with the code 0. `w8a16`
/// keeps the two bytes of `a + 32768`, each row's `hi` bytes first, then its `lo` bytes
/// (`[m][2][kp]`: the AMX kernel's input tile rows); `w8a8` the one byte `a + 128` (`[m][kp]`,
/// its bytes in `hi`).
#[derive(Default)]
struct Rounded {
    /// Row length, `k` rounded up to a multiple of 4.
    kp: usize,
    /// Byte rows an input row takes: 2 (`w8a16`) or 1 (`w8a8`).
    planes: usize,
    /// Aligned: with `kp` a multiple of 64 (the AMX kernel's case) every row starts a line.
    bytes: Aligned<u8>,
    /// Each row's scale `s_x`.
    scale: Vec<f32>,
}

/// Rows `r0 ..` of a [`Rounded`].
#[derive(Clone, Copy)]
struct RoundedRows<'a> {
    kp: usize,
    planes: usize,
    /// `[rows][planes][kp]`, from row `r0` on.
    bytes: &'a [u8],
    scale: &'a [f32],
}

impl<'a> RoundedRows<'a> {
    /// Row `r`'s `hi` bytes (`w8a16`: its `lo` bytes follow them, `kp` on), or its `w8a8` bytes.
    fn hi(&self, r: usize) -> &'a [u8] {
        &self.bytes[self.planes * r * self.kp..]
    }

    /// Row `r`'s `lo` bytes (`w8a16`).
    fn lo(&self, r: usize) -> &'a [u8] {
        assert_eq!(self.planes, 2, "lowp: only 16-bit codes have a low byte");
        &self.bytes[(2 * r + 1) * self.kp..]
    }

    /// Whether rows `0 .. m` are all here.
    fn holds(&self, m: usize) -> bool {
        self.scale.len() >= m && self.bytes.len() >= self.planes * m * self.kp
    }
}

impl Rounded {
    /// Rounds the `m` rows of `x` (`k` each) to codes up to `top`.
    #[cfg(test)]
    fn new(x: &[f32], m: usize, k: usize, top: i32) -> Rounded {
        let mut a = Rounded::default();
        a.fill(x, m, k, top);
        a
    }

    /// Rounds the `m` rows of `x` (`k` each) to codes up to `top` (32767 or 127) into these
    /// buffers.
    fn fill(&mut self, x: &[f32], m: usize, k: usize, top: i32) {
        let kp = k.div_ceil(4) * 4;
        let planes = planes(top);
        (self.kp, self.planes) = (kp, planes);
        // Every byte is written below: resizing without clearing keeps this a no-op from the
        // second call on.
        self.bytes.resize(planes * m * kp);
        self.scale.clear();
        let isa = Isa::detect();
        for (r, row) in self.bytes.chunks_exact_mut(planes * kp).enumerate() {
            let (h, l) = row.split_at_mut(kp);
            self.scale
                .push(round_row(isa, &x[r * k..(r + 1) * k], top, h, l));
        }
    }

    /// The rows from `r0` on.
    fn rows(&self, r0: usize) -> RoundedRows<'_> {
        RoundedRows {
            kp: self.kp,
            planes: self.planes,
            bytes: &self.bytes[self.planes * r0 * self.kp..],
            scale: &self.scale[r0..],
        }
    }
}

/// Byte rows that codes up to `top` take: 1 for 8-bit codes, 2 for 16-bit ones.
fn planes(top: i32) -> usize {
    if top <= 127 {
        1
    } else {
        2
    }
}

/// Rounds one row `x` to codes up to `top` and returns its scale `s_x` ([`input_scale`] and
/// [`input_code`]): 16-bit codes as the bytes `hi`, `lo` of `a + 32768`, 8-bit codes as the
/// bytes `hi` of `a + 128` (`lo` empty); the code 0 past `x`'s end. 16 values at a time on
/// AVX-512 (the same operations in the same order, so the same bytes).
fn round_row(isa: Isa, x: &[f32], top: i32, hi: &mut [u8], lo: &mut [u8]) -> f32 {
    let two = planes(top) == 2;
    assert!(hi.len() >= x.len() && lo.len() == if two { hi.len() } else { 0 });
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 {
        // SAFETY: the CPU has AVX-512F (`isa`); `hi` (and `lo` for 16-bit codes) hold at least
        // `x.len()` bytes.
        return unsafe { avx512_round_row(x, top, hi, lo) };
    }
    let _ = isa;
    let (s, inv) = input_scale(x, top);
    round_tail(x, inv, top, 0, hi, lo);
    s
}

/// Codes of `x[from ..]` (scaled by `inv`, up to `top`) as bytes, and the code 0 past `x`'s
/// end.
fn round_tail(x: &[f32], inv: f32, top: i32, from: usize, hi: &mut [u8], lo: &mut [u8]) {
    if planes(top) == 1 {
        for (h, &v) in hi[from..].iter_mut().zip(&x[from..]) {
            *h = (input_code(v, inv, top) + 128) as u8;
        }
        hi[x.len()..].fill(128);
        return;
    }
    for ((h, l), &v) in hi[from..].iter_mut().zip(&mut lo[from..]).zip(&x[from..]) {
        let u = (input_code(v, inv, top) + 32768) as u16;
        (*h, *l) = ((u >> 8) as u8, u as u8);
    }
    hi[x.len()..].fill(128);
    lo[x.len()..].fill(0);
}

/// [`round_row`] on AVX-512: the largest magnitude and the finiteness check in one pass, then
/// 16 codes per step (`(v · inv + M) − M`, clamped, NaN to 0, as [`input_code`]).
///
/// # Safety
/// The CPU has AVX-512F; `hi` (and `lo` for 16-bit codes) hold at least `x.len()` bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_round_row(x: &[f32], top: i32, hi: &mut [u8], lo: &mut [u8]) -> f32 {
    let k = x.len();
    let whole = k / 16 * 16;
    let xp = x.as_ptr();
    let abs = |v: __m512| {
        _mm512_castsi512_ps(_mm512_and_si512(
            _mm512_castps_si512(v),
            _mm512_set1_epi32(0x7FFF_FFFF),
        ))
    };
    let (mut peak, mut finite) = (_mm512_setzero_ps(), u16::MAX);
    for i in (0..whole).step_by(16) {
        let a = abs(_mm512_loadu_ps(xp.add(i)));
        // NaN compares false: a non-finite value clears its bit.
        finite &= _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, _mm512_set1_ps(f32::INFINITY));
        peak = _mm512_max_ps(peak, a);
    }
    // Largest of finite magnitudes is exact in any order; with a non-finite value the row's
    // scale is NaN whatever the maximum.
    let mut max = _mm512_reduce_max_ps(peak);
    let mut ok = finite == u16::MAX;
    for &v in &x[whole..] {
        max = max.max(v.abs());
        ok &= v.is_finite();
    }
    let (s, inv) = input_scale_of(max, ok, top);
    let (vinv, magic) = (_mm512_set1_ps(inv), _mm512_set1_ps(12_582_912.0));
    let (two, t) = (planes(top) == 2, top as f32);
    for i in (0..whole).step_by(16) {
        let r = _mm512_sub_ps(
            _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(xp.add(i)), vinv), magic),
            magic,
        );
        let c = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-t)), _mm512_set1_ps(t));
        let code = _mm512_maskz_cvttps_epi32(_mm512_cmp_ps_mask::<_CMP_ORD_Q>(r, r), c);
        let u = _mm512_add_epi32(code, _mm512_set1_epi32(top + 1));
        let bytes = |v: __m512i| _mm512_cvtepi32_epi8(v);
        if two {
            _mm_storeu_si128(lo.as_mut_ptr().add(i) as *mut __m128i, bytes(u));
            _mm_storeu_si128(
                hi.as_mut_ptr().add(i) as *mut __m128i,
                bytes(_mm512_srli_epi32::<8>(u)),
            );
        } else {
            _mm_storeu_si128(hi.as_mut_ptr().add(i) as *mut __m128i, bytes(u));
        }
    }
    round_tail(x, inv, top, whole, hi, lo);
    s
}

/// The packed panels, by format.
#[derive(Debug)]
enum Data {
    F32(Aligned<f32>),
    /// Two bf16 per 32-bit lane (see the module docs).
    Bf16(Aligned<u32>),
    Int8(Aligned<i8>),
    /// `w8a16`, `w8a8`: int8 codes in quads of steps (see the module docs).
    Quad(Aligned<i8>),
}

/// A `[n, k]` weight matrix at reduced precision, packed for the CPU's `qgemv` kernels (the CPU backend's [`Backend::QBuf`](crate::Backend::QBuf)).
#[derive(Debug)]
pub struct QWeights {
    precision: Precision,
    n: usize,
    k: usize,
    data: Data,
    /// int8, w8a16, w8a8: one scale per output row (padded to whole panels); empty otherwise.
    scales: Vec<f32>,
    /// w8a16, w8a8: each output row's sum of codes (padded to whole panels); empty otherwise.
    code_sums: Vec<i32>,
}

impl QWeights {
    /// Converts and packs `w` (`[n, k]` row-major).
    pub(crate) fn new(w: &[f32], n: usize, k: usize, precision: Precision) -> QWeights {
        assert_eq!(w.len(), n * k, "lowp: W must be [n, k]");
        // The integer kernels' 32-bit sums are exact up to these depths (|q · byte| ≤ 127 · 255 a
        // step for 16-bit codes' bytes; |q · a| ≤ 127 · 127 for 8-bit codes).
        let deepest = match precision {
            Precision::W8a16 => 1 << 16,
            Precision::W8a8 => 1 << 17,
            _ => usize::MAX,
        };
        assert!(
            k < deepest,
            "lowp: {precision} products take fewer than {deepest} inputs"
        );
        let panels = n.div_ceil(P);
        let row = |r: usize| &w[r * k..(r + 1) * k];
        let (mut scales, mut code_sums) = (Vec::new(), Vec::new());
        let data = match precision {
            Precision::F32 => {
                let mut d = Aligned::zeroed(panels * k * P);
                for r in 0..n {
                    let (p, c) = (r / P, r % P);
                    for (i, &x) in row(r).iter().enumerate() {
                        d[(p * k + i) * P + c] = x;
                    }
                }
                Data::F32(d)
            }
            Precision::Bf16 => {
                let mut d = Aligned::<u32>::zeroed(panels * k * P / 2);
                for r in 0..n {
                    let (p, c) = (r / P, r % P);
                    let (lane, shift) = (c % (P / 2), 16 * (c / (P / 2)));
                    for (i, &x) in row(r).iter().enumerate() {
                        d[(p * k + i) * P / 2 + lane] |= u32::from(f32_to_bf16(x)) << shift;
                    }
                }
                Data::Bf16(d)
            }
            Precision::Int8 | Precision::W8a16 | Precision::W8a8 => {
                // int8: `[k][32]` per panel; w8a16, w8a8: `[k / 4][32][4]`, and each row's Σ q.
                let quads = precision.rounds_inputs();
                let kq = k.div_ceil(4);
                let at = |p: usize, c: usize, i: usize| match quads {
                    true => ((p * kq + i / 4) * P + c) * 4 + i % 4,
                    false => (p * k + i) * P + c,
                };
                let mut d = Aligned::zeroed(panels * if quads { kq * 4 } else { k } * P);
                scales = vec![0.0; panels * P];
                if quads {
                    code_sums = vec![0; panels * P];
                }
                for r in 0..n {
                    let (q, scale) = int8_row(row(r));
                    scales[r] = scale;
                    if quads {
                        code_sums[r] = q.iter().map(|&q| i32::from(q)).sum();
                    }
                    for (i, q) in q.into_iter().enumerate() {
                        d[at(r / P, r % P, i)] = q;
                    }
                }
                match quads {
                    true => Data::Quad(d),
                    false => Data::Int8(d),
                }
            }
        };
        QWeights {
            precision,
            n,
            k,
            data,
            scales,
            code_sums,
        }
    }

    /// Output rows `n`.
    pub fn rows(&self) -> usize {
        self.n
    }

    /// Input columns `k`.
    pub fn cols(&self) -> usize {
        self.k
    }

    /// The storage precision.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Number of panels.
    pub(crate) fn panels(&self) -> usize {
        self.n.div_ceil(P)
    }

    /// Whether products round their inputs (`w8a16`, `w8a8`).
    fn rounds_inputs(&self) -> bool {
        self.precision.rounds_inputs()
    }

    /// Rows of `x` one kernel call takes and panels it walks side by side: one row over a
    /// group of panels (batch 1), or a block of rows over one panel (each step's weights
    /// converted once for every row of the block). Both keep eight accumulators in registers.
    /// AVX-512's 32 registers hold a block of eight rows (sixteen accumulators); `w8a16`'s
    /// VNNI kernel keeps two per output (the sums against `hi` and `lo`), so four rows.
    /// (`w8a8` needs one, but eight rows or two panels of four measured the same: its
    /// products are bound by `vpdpbusd`'s rate, not by loads.)
    fn blocking(&self, isa: Isa, m: usize) -> (usize, usize) {
        let (rows, panels) = match (isa, &self.data) {
            (Isa::Avx512, Data::Quad(_)) if has_vnni() => (4, 4),
            (_, Data::Quad(_)) | (Isa::Portable, _) => (1, 1),
            (Isa::Avx2, _) => (2, 2),
            (Isa::Avx512, _) => (8, 4),
        };
        if m == 1 {
            (1, panels)
        } else {
            (rows.min(m), 1)
        }
    }

    /// `y[r·ldy + j] (+)= Σ_i W[p0·32 + j, i] · x[r·k + i]` for the `m` rows of `x` and the
    /// outputs of panels `p0 .. p1` (row `r` of `y` holds exactly those outputs at
    /// `r·ldy`, the last panel clipped to `n`).
    #[cfg(test)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn gemv_panels(
        &self,
        isa: Isa,
        p0: usize,
        p1: usize,
        m: usize,
        x: &[f32],
        y: &mut [f32],
        ldy: usize,
        accumulate: bool,
    ) {
        assert!(x.len() >= m * self.k, "lowp: x extent");
        let rounded = self
            .precision
            .input_codes()
            .map(|top| Rounded::new(x, m, self.k, top));
        let a = rounded.as_ref().map(|a| a.rows(0));
        self.run_panels(isa, p0, p1, m, x, a, y, ldy, accumulate);
    }

    /// [`QWeights::gemv_panels`] with the rounded inputs `a` (made from `x`) of `w8a16` or
    /// `w8a8` weights given.
    #[allow(clippy::too_many_arguments)]
    fn run_panels(
        &self,
        isa: Isa,
        p0: usize,
        p1: usize,
        m: usize,
        x: &[f32],
        a: Option<RoundedRows<'_>>,
        y: &mut [f32],
        ldy: usize,
        accumulate: bool,
    ) {
        let (k, first) = (self.k, p0 * P);
        let width = (p1 * P).min(self.n).saturating_sub(first);
        assert!(
            p0 <= p1 && p1 <= self.panels() && x.len() >= m * k,
            "lowp: x extent"
        );
        assert!(
            ldy >= width && (m == 0 || y.len() >= (m - 1) * ldy + width),
            "lowp: y extent"
        );
        let (rows, group) = self.blocking(isa, m);
        if let (Data::Quad(d), Some(a)) = (&self.data, a) {
            assert!(a.holds(m), "lowp: rounded inputs extent");
            // The tiles take 16-bit codes' byte rows: w8a8 stays on VNNI.
            let tiles = self.precision == Precision::W8a16 && tiles_allowed();
            if isa == Isa::Avx512 && tiles && amx::fits(m, k) {
                let w = amx::Quads {
                    data: d,
                    kq: k / 4,
                    n: self.n,
                    code_sums: &self.code_sums,
                    scales: &self.scales,
                };
                amx::products(&w, p0, p1, m, a.bytes, a.scale, y, ldy, accumulate);
                return;
            }
            // Written by each kernel call before it is read: set once, not per block.
            let mut vals = [0.0f32; 4 * P];
            let mut p = p0;
            while p < p1 {
                let g = group.min(p1 - p);
                for r0 in (0..m).step_by(rows) {
                    let r = rows.min(m - r0);
                    let scaled = (&self.code_sums[p * P..], &self.scales[p * P..]);
                    quad_products(isa, d, self.k, p, g, r, a, r0, scaled, &mut vals);
                    let (o0, o1) = (p * P - first, ((p + g) * P).min(self.n) - first);
                    for (ri, v) in vals[..r * g * P].chunks_exact(g * P).enumerate() {
                        store(&mut y[(r0 + ri) * ldy..][o0..o1], v, accumulate);
                    }
                }
                p += g;
            }
            return;
        }
        let mut sums = [0.0f32; 8 * P];
        // int8 weights with two or more blocks of rows: each panel converted to f32 once, not
        // once per block (the conversions take the vector units the products need: 64 rows ×
        // 1024 × 256, 10 % faster on one thread, 5 % on two; 16 rows, equal).
        let decode = m > rows && self.decodes(isa);
        thread_local! {
            static PANEL: std::cell::RefCell<Aligned<f32>> = std::cell::RefCell::new(Aligned::default());
        }
        PANEL.with_borrow_mut(|panel| {
            if decode {
                panel.resize(k * P);
            }
            // Panels outside, row blocks inside: a panel (k · 32 weights) is read from memory
            // once and stays in L1 / L2 for every further block of rows.
            let mut p = p0;
            while p < p1 {
                let g = group.min(p1 - p);
                let decoded = decode.then(|| self.decode_panel(isa, p, panel));
                for r0 in (0..m).step_by(rows) {
                    let r = rows.min(m - r0);
                    let sums = &mut sums[..r * g * P];
                    self.panel_sums(isa, p, g, r, &x[r0 * k..], sums, decoded);
                    let (lo, hi) = (p * P - first, ((p + g) * P).min(self.n) - first);
                    let scales = match self.precision {
                        Precision::Int8 => Some(&self.scales[p * P..]),
                        _ => None,
                    };
                    for (ri, s) in sums.chunks_exact(g * P).enumerate() {
                        let out = &mut y[(r0 + ri) * ldy..][lo..hi];
                        let s = &s[..out.len()];
                        // Multiply, then add: the same two roundings on every path. One loop per
                        // case, so each vectorises.
                        match (scales, accumulate) {
                            (Some(sc), true) => {
                                for ((o, &s), &c) in out.iter_mut().zip(s).zip(&sc[..s.len()]) {
                                    *o += s * c;
                                }
                            }
                            (Some(sc), false) => {
                                for ((o, &s), &c) in out.iter_mut().zip(s).zip(&sc[..s.len()]) {
                                    *o = s * c;
                                }
                            }
                            (None, _) => store(out, s, accumulate),
                        }
                    }
                }
                p += g;
            }
        });
    }

    /// Whether [`QWeights::decode_panel`] converts this format on `isa`: int8 on AVX2 and
    /// AVX-512. (bf16's conversion is a shift or a mask, off the multiply units: converting its
    /// panels first measured 5–20 % slower.)
    fn decodes(&self, isa: Isa) -> bool {
        cfg!(target_arch = "x86_64") && isa != Isa::Portable && matches!(self.data, Data::Int8(_))
    }

    /// Panel `p`'s weights as `f32` (`[k][32]`, the values the int8 kernels multiply by), written
    /// into `out` (`k · 32` values) and returned; for [`QWeights::decodes`] formats.
    fn decode_panel<'a>(&self, isa: Isa, p: usize, out: &'a mut [f32]) -> &'a [f32] {
        let k = self.k;
        assert!(self.decodes(isa) && out.len() >= k * P && p < self.panels());
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is one this CPU runs (AVX2 at least, asserted); panel p holds `k`
        // steps and `out` k · 32 values (asserted).
        unsafe {
            let o = out.as_mut_ptr();
            match (isa, &self.data) {
                (Isa::Avx2, Data::Int8(d)) => avx2_int8_panel(d.as_ptr().add(p * k * P), k, o),
                (Isa::Avx512, Data::Int8(d)) => avx512_int8_panel(d.as_ptr().add(p * k * P), k, o),
                _ => unreachable!("lowp: decodes() admits int8 on AVX2 and AVX-512"),
            }
        }
        &out[..k * P]
    }

    /// Raw sums of panels `p .. p + g` for `r` rows of `x` (`k` apart) into `sums`
    /// (`[r][g · 32]`), with `(r, g)` one of [`QWeights::blocking`]'s shapes; from `decoded`
    /// (panel `p` as [`QWeights::decode_panel`] wrote it, `g` = 1) where given.
    #[allow(clippy::too_many_arguments)]
    fn panel_sums(
        &self,
        isa: Isa,
        p: usize,
        g: usize,
        r: usize,
        x: &[f32],
        sums: &mut [f32],
        decoded: Option<&[f32]>,
    ) {
        let k = self.k;
        assert!(x.len() >= r * k && sums.len() >= r * g * P);
        assert!(decoded.is_none_or(|d| g == 1 && d.len() >= k * P));
        #[cfg(target_arch = "x86_64")]
        {
            macro_rules! shapes {
                ($kernel:ident, $w:expr) => {
                    match (r, g) {
                        (1, 1) => $kernel::<1, 1>($w, k, x.as_ptr(), sums.as_mut_ptr()),
                        (1, 2) => $kernel::<1, 2>($w, k, x.as_ptr(), sums.as_mut_ptr()),
                        (1, 3) => $kernel::<1, 3>($w, k, x.as_ptr(), sums.as_mut_ptr()),
                        (1, 4) => $kernel::<1, 4>($w, k, x.as_ptr(), sums.as_mut_ptr()),
                        (2, 1) => $kernel::<2, 1>($w, k, x.as_ptr(), sums.as_mut_ptr()),
                        (3, 1) => $kernel::<3, 1>($w, k, x.as_ptr(), sums.as_mut_ptr()),
                        (4, 1) => $kernel::<4, 1>($w, k, x.as_ptr(), sums.as_mut_ptr()),
                        (5, 1) => $kernel::<5, 1>($w, k, x.as_ptr(), sums.as_mut_ptr()),
                        (6, 1) => $kernel::<6, 1>($w, k, x.as_ptr(), sums.as_mut_ptr()),
                        (7, 1) => $kernel::<7, 1>($w, k, x.as_ptr(), sums.as_mut_ptr()),
                        (8, 1) => $kernel::<8, 1>($w, k, x.as_ptr(), sums.as_mut_ptr()),
                        _ => unreachable!("lowp: no kernel for {r} rows × {g} panels"),
                    }
                };
            }
            // SAFETY: `isa` is one this CPU runs (`Isa::detect`, or `available` in tests);
            // panels p .. p + g (or `decoded`) hold `k` steps each, `x` holds r rows of `k` and
            // `sums` r · g panels of outputs (asserted above), which is all the kernels touch.
            unsafe {
                match (isa, decoded) {
                    (Isa::Avx2, Some(d)) => return shapes!(avx2_f32, d.as_ptr()),
                    (Isa::Avx512, Some(d)) => return shapes!(avx512_f32, d.as_ptr()),
                    _ => {}
                }
                match (isa, &self.data) {
                    (Isa::Avx2, Data::F32(d)) => {
                        return shapes!(avx2_f32, d.as_ptr().add(p * k * P))
                    }
                    (Isa::Avx2, Data::Bf16(d)) => {
                        return shapes!(avx2_bf16, d.as_ptr().add(p * k * P / 2))
                    }
                    (Isa::Avx2, Data::Int8(d)) => {
                        return shapes!(avx2_int8, d.as_ptr().add(p * k * P))
                    }
                    (Isa::Avx512, Data::F32(d)) => {
                        return shapes!(avx512_f32, d.as_ptr().add(p * k * P))
                    }
                    (Isa::Avx512, Data::Bf16(d)) => {
                        return shapes!(avx512_bf16, d.as_ptr().add(p * k * P / 2))
                    }
                    (Isa::Avx512, Data::Int8(d)) => {
                        return shapes!(avx512_int8, d.as_ptr().add(p * k * P))
                    }
                    _ => {}
                }
            }
        }
        let _ = isa;
        for ri in 0..r {
            let xr = &x[ri * k..(ri + 1) * k];
            for gi in 0..g {
                let base = (p + gi) * k;
                let mut acc = [0.0f32; P];
                for (i, &xi) in xr.iter().enumerate() {
                    for (c, a) in acc.iter_mut().enumerate() {
                        *a = xi.mul_add(self.weight(base + i, c), *a);
                    }
                }
                sums[(ri * g + gi) * P..][..P].copy_from_slice(&acc);
            }
        }
    }

    /// The stored weight of output `c` at packed step `step` (panel · k + i), before scaling.
    fn weight(&self, step: usize, c: usize) -> f32 {
        match &self.data {
            Data::F32(d) => d[step * P + c],
            Data::Bf16(d) => {
                let lane = d[step * P / 2 + c % (P / 2)];
                let bits = if c < P / 2 {
                    lane << 16
                } else {
                    lane & 0xFFFF_0000
                };
                f32::from_bits(bits)
            }
            Data::Int8(d) => f32::from(d[step * P + c]),
            Data::Quad(_) => unreachable!("w8a16 runs through quad_products"),
        }
    }
}

/// Whether a product may run on AMX tiles (tests turn them off to check the VNNI kernel on
/// the same shapes).
#[cfg(not(test))]
fn tiles_allowed() -> bool {
    true
}

#[cfg(test)]
thread_local! {
    static NO_TILES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a product may run on AMX tiles (tests turn them off to check the VNNI kernel on
/// the same shapes).
#[cfg(test)]
fn tiles_allowed() -> bool {
    !NO_TILES.get()
}

/// `out (+)= v` (as many values as `out` holds), 16 lanes at a time where the CPU has AVX-512
/// (the crate's baseline build would add 4 at a time: 5 % of a 64-stream step at M).
pub(super) fn store(out: &mut [f32], v: &[f32], accumulate: bool) {
    #[cfg(target_arch = "x86_64")]
    if Isa::detect() == Isa::Avx512 {
        // SAFETY: the CPU has AVX-512F (`Isa::detect`).
        return unsafe { store_avx512(out, v, accumulate) };
    }
    store_any(out, v, accumulate)
}

/// [`store`] compiled for AVX-512 (the same additions, so the same bits).
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn store_avx512(out: &mut [f32], v: &[f32], accumulate: bool) {
    store_any(out, v, accumulate)
}

/// [`store`]'s loop, for whatever instruction set its caller is compiled for.
#[inline(always)]
fn store_any(out: &mut [f32], v: &[f32], accumulate: bool) {
    let v = &v[..out.len()];
    if accumulate {
        out.iter_mut().zip(v).for_each(|(o, &v)| *o += v);
    } else {
        out.copy_from_slice(v);
    }
}

/// The 16-bit code whose `a + 32768` has the bytes `hi`, `lo` (see [`Rounded`]).
#[inline(always)]
fn a16_of(hi: u8, lo: u8) -> i32 {
    256 * i32::from(hi) + i32::from(lo) - 32768
}

/// Whether the CPU has AVX-512 VNNI (and BW, DQ), checked once.
fn has_vnni() -> bool {
    static VNNI: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *VNNI.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// The products of `w8a16` or `w8a8` weights, panels `p .. p + g`, for rows `r0 .. r0 + r` of
/// `a` into `vals` (`[r][g · 32]`): each output's exact integer sum `Σ q · a`, rounded once to
/// `f32`, × the row's `s_x`, × the output's scale (`scaled`: the panels' code sums `Σ q` and
/// scales, from panel `p` on). `(r, g)` is one of [`QWeights::blocking`]'s shapes: AVX-512
/// VNNI where `isa` allows it, else AVX2's `vpmaddwd` kernel, else the portable one.
#[allow(clippy::too_many_arguments)]
fn quad_products(
    isa: Isa,
    d: &[i8],
    k: usize,
    p: usize,
    g: usize,
    r: usize,
    a: RoundedRows<'_>,
    r0: usize,
    (code_sums, scales): (&[i32], &[f32]),
    vals: &mut [f32; 4 * P],
) {
    let kq = k.div_ceil(4);
    let panel = kq * 4 * P;
    assert!(d.len() >= (p + g) * panel && a.holds(r0 + r) && a.kp >= 4 * kq);
    assert!(code_sums.len() >= g * P && scales.len() >= g * P);
    assert!(r * g <= 4);
    let s_x = &a.scale[r0..r0 + r];
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 && has_vnni() {
        let w = d[p * panel..].as_ptr();
        // A row's next bytes are planes · kp on; 8-bit codes have no `lo` row (never read).
        let (h, lda) = (a.hi(r0).as_ptr(), a.planes * a.kp);
        let l = if a.planes == 2 { a.lo(r0).as_ptr() } else { h };
        let ends = (
            code_sums.as_ptr(),
            scales.as_ptr(),
            s_x.as_ptr(),
            vals.as_mut_ptr(),
        );
        macro_rules! shapes {
            ($two:literal, $($r:literal x $g:literal),*) => {
                match (r, g) {
                    $(($r, $g) => vnni_quads::<$r, $g, $two>(w, kq, h, l, lda, ends),)*
                    _ => unreachable!("lowp: no VNNI kernel for {r} rows × {g} panels"),
                }
            };
        }
        // SAFETY: the CPU has AVX-512 F, BW, DQ and VNNI (checked); panels p .. p + g hold kq
        // quads each, `hi` (and `lo` for 16-bit codes) r rows of kp ≥ 4·kq bytes, the code
        // sums and scales g · 32 values, `s_x` r, `vals` r · g · 32 ≤ 4 · 32 (all asserted).
        unsafe {
            match a.planes {
                2 => shapes!(true, 1 x 1, 1 x 2, 1 x 3, 1 x 4, 2 x 1, 3 x 1, 4 x 1),
                _ => shapes!(false, 1 x 1, 1 x 2, 1 x 3, 1 x 4, 2 x 1, 3 x 1, 4 x 1),
            }
        }
        return;
    }
    assert!(
        r == 1 && g == 1,
        "lowp: the AVX2 and portable integer kernels take one row and one panel"
    );
    let w = &d[p * panel..(p + 1) * panel];
    let h = &a.hi(r0)[..4 * kq];
    let l = (a.planes == 2).then(|| &a.lo(r0)[..4 * kq]);
    let code = |i: usize| match l {
        Some(l) => a16_of(h[i], l[i]),
        None => i32::from(h[i]) - 128,
    };
    let mut totals = [0i64; P];
    #[cfg(target_arch = "x86_64")]
    let simd = isa != Isa::Portable;
    #[cfg(not(target_arch = "x86_64"))]
    let simd = false;
    if simd {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is one this CPU runs (AVX2 at least); `w` holds kq quads of 32 rows
        // and `code` answers for 4·kq columns (asserted above).
        unsafe {
            avx2_quads(w, kq, code, &mut totals)
        };
    } else {
        for (c, t) in totals.iter_mut().enumerate() {
            for (qi, q) in w[c * 4..].chunks(4 * P).enumerate() {
                for (t4, &q) in q[..4].iter().enumerate() {
                    *t += i64::from(q) * i64::from(code(4 * qi + t4));
                }
            }
        }
    }
    for ((v, t), &sc) in vals.iter_mut().zip(totals).zip(scales) {
        // One rounding of the exact sum, then × s_x, then × the scale: as the VNNI epilogue.
        *v = (t as f32 * s_x[0]) * sc;
    }
}

/// One row against one panel of `w8a16` or `w8a8` on AVX2: per quad the row's four codes
/// (`code(i)`, column `i`) as 16-bit integers, broadcast, against four outputs × four codes
/// sign-extended to 16 bits at a time (`vpmaddwd`: two products summed in 32 bits per lane,
/// two lanes an output).
///
/// # Safety
/// The CPU has AVX2; `w` holds `kq` quads of 128 bytes and `code` answers for `4 · kq` columns.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::needless_range_loop)]
unsafe fn avx2_quads(w: &[i8], kq: usize, code: impl Fn(usize) -> i32, total: &mut [i64; P]) {
    assert!(w.len() >= kq * 4 * P);
    *total = [0; P];
    let mut q0 = 0;
    while q0 < kq {
        // A lane gains at most 2 · 127 · 32767 a quad: 256 quads stay below 2³¹.
        let q1 = (q0 + 256).min(kq);
        let mut acc = [_mm256_setzero_si256(); 8];
        for q in q0..q1 {
            let code = |t: usize| u64::from(code(4 * q + t) as i16 as u16);
            let codes = code(0) | code(1) << 16 | code(2) << 32 | code(3) << 48;
            let a = _mm256_set1_epi64x(codes as i64);
            let wp = w.as_ptr().add(q * 4 * P);
            for grp in 0..8 {
                let q16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(wp.add(16 * grp) as *const __m128i));
                acc[grp] = _mm256_add_epi32(acc[grp], _mm256_madd_epi16(q16, a));
            }
        }
        // Lanes 2i and 2i + 1 of group `grp` are output 4·grp + i's two halves.
        for grp in 0..8 {
            let mut lanes = [0i32; 8];
            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc[grp]);
            for i in 0..4 {
                total[4 * grp + i] += i64::from(lanes[2 * i]) + i64::from(lanes[2 * i + 1]);
            }
        }
        q0 = q1;
    }
}

/// `R` rows × `G` panels with `vpdpbusd`: per quad, each row's four `hi` (and, `TWO`: `lo`)
/// bytes broadcast, times each panel's two 64-byte halves (16 outputs × 4 codes); then each
/// output's `Σ q · a` (16-bit codes: `256 Σ q·hi + Σ q·lo − 32768 Σ q` in 64 bits; 8-bit:
/// `Σ q·hi − 128 Σ q`, exact in `i32` for `k < 2¹⁷`), rounded once to `f32`, × `s_x`, × scale,
/// into `vals`. `ends` = (code sums, scales, `s_x`, `vals`).
///
/// # Safety
/// The CPU has AVX-512F, BW, DQ and VNNI; `w` holds `G · kq` quads of 128 bytes, `hi` (and
/// with `TWO`, `lo`) `R` rows of `4 · kq` bytes, `lda` apart, the code sums and scales `G · 32`
/// values, `s_x` `R`, `vals` `R · G · 32`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vnni")]
#[allow(clippy::needless_range_loop)]
unsafe fn vnni_quads<const R: usize, const G: usize, const TWO: bool>(
    w: *const i8,
    kq: usize,
    hi: *const u8,
    lo: *const u8,
    lda: usize,
    (code_sums, scales, s_x, vals): (*const i32, *const f32, *const f32, *mut f32),
) {
    let mut ah = [[[_mm512_setzero_si512(); 2]; G]; R];
    let mut al = [[[_mm512_setzero_si512(); 2]; G]; R];
    for q in 0..kq {
        let mut bh = [_mm512_setzero_si512(); R];
        let mut bl = [_mm512_setzero_si512(); R];
        for r in 0..R {
            bh[r] = _mm512_set1_epi32((hi.add(r * lda + 4 * q) as *const i32).read_unaligned());
            if TWO {
                bl[r] = _mm512_set1_epi32((lo.add(r * lda + 4 * q) as *const i32).read_unaligned());
            }
        }
        for g in 0..G {
            let wp = w.add((g * kq + q) * 4 * P);
            let wv = [
                _mm512_loadu_si512(wp as *const __m512i),
                _mm512_loadu_si512(wp.add(64) as *const __m512i),
            ];
            for r in 0..R {
                for j in 0..2 {
                    ah[r][g][j] = _mm512_dpbusd_epi32(ah[r][g][j], bh[r], wv[j]);
                    if TWO {
                        al[r][g][j] = _mm512_dpbusd_epi32(al[r][g][j], bl[r], wv[j]);
                    }
                }
            }
        }
    }
    for r in 0..R {
        for g in 0..G {
            for j in 0..2 {
                let o = g * P + 16 * j;
                let ends = (code_sums.add(o), scales.add(o), vals.add(r * G * P + o));
                if TWO {
                    finish16(ah[r][g][j], al[r][g][j], *s_x.add(r), ends);
                } else {
                    finish16_a8(ah[r][g][j], *s_x.add(r), ends);
                }
            }
        }
    }
}

/// 16 outputs of `w8a8` from their `Σ q·(a + 128)` sums `h`: `h − 128 Σ q` (exact in `i32`,
/// wrapping in between), rounded once to `f32`, × `s_x`, × the output's scale, into `out`.
/// `ends` = (the outputs' code sums `Σ q`, their scales, `out`).
///
/// # Safety
/// The CPU has AVX-512 F; each of `ends` holds 16 values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn finish16_a8(
    h: __m512i,
    s_x: f32,
    (code_sums, scales, out): (*const i32, *const f32, *mut f32),
) {
    let cs = _mm512_loadu_si512(code_sums as *const __m512i);
    let t = _mm512_sub_epi32(h, _mm512_slli_epi32::<7>(cs));
    let v = _mm512_mul_ps(_mm512_cvtepi32_ps(t), _mm512_set1_ps(s_x));
    let v = _mm512_mul_ps(v, _mm512_loadu_ps(scales));
    _mm512_storeu_ps(out, v);
}

/// 16 outputs of `w8a16` from their `Σ q·hi` (`h`) and `Σ q·lo` (`l`) sums: `256 h + l −
/// 32768 Σ q` in 64 bits, rounded once to `f32`, × `s_x`, × the output's scale, into `out`.
/// `ends` = (the outputs' code sums `Σ q`, their scales, `out`). Shared by the VNNI and the AMX
/// kernels, so both round alike.
///
/// # Safety
/// The CPU has AVX-512 F and DQ; each of `ends` holds 16 values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
#[inline]
pub(super) unsafe fn finish16(
    h: __m512i,
    l: __m512i,
    s_x: f32,
    (code_sums, scales, out): (*const i32, *const f32, *mut f32),
) {
    let wide = |v: __m512i, half: bool| {
        _mm512_cvtepi32_epi64(if half {
            _mm512_extracti64x4_epi64::<1>(v)
        } else {
            _mm512_castsi512_si256(v)
        })
    };
    let (sx, cs) = (
        _mm256_set1_ps(s_x),
        _mm512_loadu_si512(code_sums as *const __m512i),
    );
    for half in [false, true] {
        let t = _mm512_sub_epi64(
            _mm512_add_epi64(_mm512_slli_epi64::<8>(wide(h, half)), wide(l, half)),
            _mm512_slli_epi64::<15>(wide(cs, half)),
        );
        let e = 8 * usize::from(half);
        let v = _mm256_mul_ps(_mm512_cvtepi64_ps(t), sx);
        let v = _mm256_mul_ps(v, _mm256_loadu_ps(scales.add(e)));
        _mm256_storeu_ps(out.add(e), v);
    }
}

/// Generates a kernel over `R` rows of `x` and `G` panels: per step `i`, each panel's weights
/// are loaded and converted once (`$load`, `P / $lanes` vectors in output order) and multiplied
/// into every row's accumulators; then the raw sums go to `sums` (`[R][G · 32]`). With
/// `decode $decode`, also a function that writes one panel's weights as `f32` (`[k][32]`, the
/// values `$load` gives), for products of many rows to convert each panel once.
macro_rules! kernel {
    ($name:ident, $feat:literal, $t:ty, $vec:ty, $zero:expr, $set1:path, $fma:path,
     $store:path, $lanes:expr, $step_elems:expr, |$w:ident| $load:expr
     $(, decode $decode:ident)?) => {
        $(
        /// One panel's weights as `f32`, `[k][32]`, into `out`.
        ///
        /// # Safety
        /// The CPU has the target features; `w` holds `k` packed steps, `out` `k · 32` values.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feat)]
        unsafe fn $decode(w: *const $t, k: usize, out: *mut f32) {
            for i in 0..k {
                let $w = w.add(i * $step_elems);
                let wv: [$vec; P / $lanes] = $load;
                for (j, v) in wv.into_iter().enumerate() {
                    $store(out.add(i * P + j * $lanes), v);
                }
            }
        }
        )?

        /// One block of rows × panels (see the macro); raw sums into `sums`.
        ///
        /// # Safety
        /// The CPU has the target features; `w` holds `G · k` packed steps, `x` `R` rows of
        /// `k`, `sums` `R · G · 32` values.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feat)]
        #[allow(clippy::needless_range_loop)]
        unsafe fn $name<const R: usize, const G: usize>(
            w: *const $t,
            k: usize,
            x: *const f32,
            sums: *mut f32,
        ) {
            const PER: usize = P / $lanes;
            let mut acc = [[[$zero; PER]; G]; R];
            for i in 0..k {
                let mut xs = [$zero; R];
                for r in 0..R {
                    xs[r] = $set1(*x.add(r * k + i));
                }
                for g in 0..G {
                    let $w = w.add((g * k + i) * $step_elems);
                    let wv: [$vec; PER] = $load;
                    for r in 0..R {
                        for j in 0..PER {
                            acc[r][g][j] = $fma(xs[r], wv[j], acc[r][g][j]);
                        }
                    }
                }
            }
            for r in 0..R {
                for g in 0..G {
                    for j in 0..PER {
                        $store(sums.add((r * G + g) * P + j * $lanes), acc[r][g][j]);
                    }
                }
            }
        }
    };
}

kernel!(
    avx2_f32,
    "avx2,fma",
    f32,
    __m256,
    _mm256_setzero_ps(),
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps,
    8,
    P,
    |w| [
        _mm256_loadu_ps(w),
        _mm256_loadu_ps(w.add(8)),
        _mm256_loadu_ps(w.add(16)),
        _mm256_loadu_ps(w.add(24)),
    ]
);

kernel!(
    avx2_int8,
    "avx2,fma",
    i8,
    __m256,
    _mm256_setzero_ps(),
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps,
    8,
    P,
    |w| {
        let q = |o: usize| {
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
                w.add(o) as *const __m128i
            )))
        };
        [q(0), q(8), q(16), q(24)]
    },
    decode avx2_int8_panel
);

// Lanes 0..8 hold outputs 0..8 (low halves) and 16..24 (high); lanes 8..16 hold 8..16 and
// 24..32: a shift and a mask of the two loads give the outputs in order.
kernel!(
    avx2_bf16,
    "avx2,fma",
    u32,
    __m256,
    _mm256_setzero_ps(),
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps,
    8,
    P / 2,
    |w| {
        let mask = _mm256_set1_epi32(0xFFFF_0000u32 as i32);
        let v0 = _mm256_loadu_si256(w as *const __m256i);
        let v1 = _mm256_loadu_si256(w.add(8) as *const __m256i);
        [
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(v0)),
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(v1)),
            _mm256_castsi256_ps(_mm256_and_si256(v0, mask)),
            _mm256_castsi256_ps(_mm256_and_si256(v1, mask)),
        ]
    }
);

kernel!(
    avx512_f32,
    "avx512f",
    f32,
    __m512,
    _mm512_setzero_ps(),
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps,
    16,
    P,
    |w| [_mm512_loadu_ps(w), _mm512_loadu_ps(w.add(16))]
);

kernel!(
    avx512_int8,
    "avx512f",
    i8,
    __m512,
    _mm512_setzero_ps(),
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps,
    16,
    P,
    |w| {
        let q = |o: usize| {
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
                w.add(o) as *const __m128i
            )))
        };
        [q(0), q(16)]
    },
    decode avx512_int8_panel
);

kernel!(
    avx512_bf16,
    "avx512f",
    u32,
    __m512,
    _mm512_setzero_ps(),
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps,
    16,
    P / 2,
    |w| {
        let v = _mm512_loadu_si512(w as *const __m512i);
        [
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(v)),
            _mm512_castsi512_ps(_mm512_and_si512(
                v,
                _mm512_set1_epi32(0xFFFF_0000u32 as i32),
            )),
        ]
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cpu::test_values as values;

    #[test]
    fn every_path_rounds_inputs_to_the_same_bytes() {
        // Lengths around the 16-value step; ties, huge and tiny values, zeros, NaN and ±inf.
        let specials = [
            0.5f32,
            -2.5,
            1e-30,
            -0.0,
            3.0e38,
            f32::NAN,
            f32::INFINITY,
            -1.0,
        ];
        for k in [1usize, 5, 15, 16, 17, 31, 33, 64, 100] {
            for case in 0..4 {
                let mut x = values(k, 11 + case as u32);
                match case {
                    1 => x.iter_mut().for_each(|v| *v = 0.0),
                    2 | 3 => {
                        let at = (case * 7) % k;
                        x[at] = specials[(k + case) % specials.len()];
                        x[k - 1] = specials[(k * case + 3) % specials.len()];
                    }
                    _ => {}
                }
                for top in [32767, 127] {
                    let kp = k.div_ceil(4) * 4 + 4;
                    let lo_len = if top == 127 { 0 } else { kp };
                    let (mut h0, mut l0) = (vec![7u8; kp], vec![7u8; lo_len]);
                    let s0 = round_row(Isa::Portable, &x, top, &mut h0, &mut l0);
                    let mut codes = Vec::new();
                    let want = crate::precision::input_row(&x, top, &mut codes);
                    let tag = format!("top {top} k={k} case {case}");
                    assert_eq!(s0.to_bits(), want.to_bits(), "{tag}");
                    for (i, &c) in codes.iter().enumerate() {
                        let got = match top {
                            127 => i32::from(h0[i]) - 128,
                            _ => a16_of(h0[i], l0[i]),
                        };
                        assert_eq!(got, c, "{tag} at {i}");
                    }
                    assert!(h0[k..].iter().all(|&b| b == 128), "{tag}");
                    assert!(l0.get(k..).unwrap_or(&[]).iter().all(|&b| b == 0), "{tag}");
                    for isa in Isa::available() {
                        let (mut h, mut l) = (vec![9u8; kp], vec![9u8; lo_len]);
                        let s = round_row(isa, &x, top, &mut h, &mut l);
                        assert_eq!(s.to_bits(), s0.to_bits(), "{isa:?} {tag}");
                        assert_eq!((&h, &l), (&h0, &l0), "{isa:?} {tag}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_path_matches_the_dequantized_product_bit_for_bit() {
        // Off-panel sizes, a single panel, an odd number of panels, more than a group; one
        // row, five and eleven (row blocks of 5 and 8 + 3 on AVX-512, of 2 and a last 1 on AVX2).
        for &(n, k) in &[(1, 1), (31, 7), (32, 64), (97, 33), (256, 256), (200, 129)] {
            for m in [1, 5, 11] {
                let w = values(n * k, 3);
                let x = values(m * k, 5);
                let y0 = values(m * n, 9);
                for p in Precision::ALL {
                    check_paths(&w, n, k, m, &x, &y0, p);
                }
            }
        }
        // Big enough for the driver to split the panels (m = 1, 3, 8: few rows of a big
        // matrix) or the rows (20) between threads; f32 and bf16 (bigger) split the panels
        // for 8 rows too.
        let (n, k) = (1000, 600);
        for m in [1, 3, 8, 20] {
            let (w, x, y0) = (values(n * k, 1), values(m * k, 2), values(m * n, 3));
            assert!(super::super::gemv::split_rows(m * n, k, 2, false));
            for p in Precision::ALL {
                check_paths(&w, n, k, m, &x, &y0, p);
            }
        }
    }

    #[test]
    fn amx_tiles_give_the_other_paths_products() {
        // Blocks of 16 streams, of 8 and a tail, alone and together; one and several 64-deep
        // steps; a clipped last panel; codes at their extremes (all bytes 255 or 0).
        if !amx::available() {
            eprintln!("amx_tiles_give_the_other_paths_products: this CPU (or kernel) has no AMX-INT8 for this process; only the VNNI / AVX2 / portable paths were compared");
        }
        for &(n, k) in &[(70, 64), (256, 192), (33, 512)] {
            for m in [4, 7, 8, 11, 16, 21, 37] {
                let (w, x, y0) = (values(n * k, 4), values(m * k, 6), values(m * n, 8));
                check_paths(&w, n, k, m, &x, &y0, Precision::W8a16);
                assert!(!amx::available() || amx::fits(m, k));
            }
        }
        let (n, k, m) = (40, 4096, 9);
        let w: Vec<f32> = (0..n * k).map(|i| [1.0, -1.0, 0.5][i % 3]).collect();
        let x: Vec<f32> = (0..m * k).map(|i| [1.0, -1.0][(i / k) % 2]).collect();
        check_paths(&w, n, k, m, &x, &vec![0.0; m * n], Precision::W8a16);
    }

    #[test]
    fn w8a16_sums_stay_exact_where_32_bits_would_overflow() {
        // Every code at its largest (127 · 32767 per step, same sign): 3001 steps sum to
        // ~1.2·10¹⁰, past i32 (AVX2 folds its 32-bit lanes into i64 every 256 quads, VNNI's
        // byte halves stay small); one negative row and one mixed row beside.
        let (n, k) = (70, 3001);
        let mut w = vec![1.0f32; n * k];
        w[k..2 * k].iter_mut().for_each(|v| *v = -1.0);
        w[2 * k..3 * k]
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = [1.0, -1.0][i % 2]);
        for m in [1, 5, 9] {
            let x = vec![0.75f32; m * k];
            for p in [Precision::W8a16, Precision::W8a8] {
                check_paths(&w, n, k, m, &x, &vec![0.0; m * n], p);
            }
        }
    }

    /// Every instruction set and both drivers against the spec for one shape.
    fn check_paths(w: &[f32], n: usize, k: usize, m: usize, x: &[f32], y0: &[f32], p: Precision) {
        let q = QWeights::new(w, n, k, p);
        let mut deq = w.to_vec();
        p.round_trip(&mut deq, k);
        // The spec: each output one fused chain over i, then × scale, then + y.
        let rows: Vec<(Vec<i8>, f32)> = w.chunks(k.max(1)).map(int8_row).collect();
        // w8a16, w8a8: each input row's codes and scale; the sum of code products is exact.
        let mut codes = Vec::new();
        let top = p.input_codes().unwrap_or(32767);
        let rounded: Vec<(Vec<i32>, f32)> = (0..m)
            .map(|r| {
                let s = crate::precision::input_row(&x[r * k..(r + 1) * k], top, &mut codes);
                (codes.clone(), s)
            })
            .collect();
        let v: Vec<f32> = (0..m * n)
            .map(|o| {
                let (r, j) = (o / n, o % n);
                if p.rounds_inputs() {
                    let (a, s_x) = &rounded[r];
                    let q = &rows[j].0;
                    let sum: i64 = (0..k).map(|i| i64::from(q[i]) * i64::from(a[i])).sum();
                    return (sum as f32 * s_x) * rows[j].1;
                }
                let unscaled = |i: usize| match p {
                    Precision::Int8 => f32::from(rows[j].0[i]),
                    _ => deq[j * k + i],
                };
                let s = (0..k).fold(0.0f32, |a, i| x[r * k + i].mul_add(unscaled(i), a));
                match p {
                    Precision::Int8 => s * rows[j].1,
                    _ => s,
                }
            })
            .collect();
        let want: Vec<f32> = y0.iter().zip(&v).map(|(a, b)| a + b).collect();
        let tag = format!("{p} {n}x{k} m={m}");
        // AVX-512 at w8a16 runs on AMX tiles where the shape allows it: check VNNI there too.
        let both = p == Precision::W8a16 && amx::fits(m, k);
        for (isa, no_tiles) in Isa::available()
            .into_iter()
            .flat_map(|isa| [(isa, false), (isa, true)])
            .filter(|&(isa, no_tiles)| !no_tiles || (both && isa == Isa::Avx512))
        {
            NO_TILES.set(no_tiles);
            let isa_tag = if no_tiles { "without tiles" } else { "" };
            let tag = format!("{tag} {isa_tag}");
            let mut y = y0.to_vec();
            q.gemv_panels(isa, 0, q.panels(), m, x, &mut y, n, true);
            assert_eq!(y, want, "{tag} {isa:?}");
            if m == 1 {
                // Overwriting instead of accumulating, and a split at a panel boundary.
                let mut y = vec![f32::NAN; n];
                let mid = q.panels() / 2;
                let (a, b) = y.split_at_mut((mid * P).min(n));
                let (wa, wb) = (a.len(), b.len());
                q.gemv_panels(isa, 0, mid, 1, x, a, wa, false);
                q.gemv_panels(isa, mid, q.panels(), 1, x, b, wb, false);
                assert_eq!(y, v, "{tag} {isa:?} overwrite");
            }
            NO_TILES.set(false);
        }
        // The threaded driver (rayon halves of the panels or of the rows), adding to `y` and
        // writing it.
        let mut y = y0.to_vec();
        gemv(&q, m, x, &mut y, true, 2, None);
        assert_eq!(y, want, "{tag} two threads");
        let mut y = vec![f32::NAN; m * n];
        gemv(&q, m, x, &mut y, false, 2, None);
        assert_eq!(y, v, "{tag} two threads, overwriting");
        // And the f64 product of the dequantized weights (and, for w8a16 and w8a8, inputs), to
        // rounding.
        let mut xr = x.to_vec();
        if p.rounds_inputs() {
            xr.chunks_mut(k.max(1))
                .for_each(|x| crate::precision::round_activations(x, top));
        }
        for (o, &got) in v.iter().enumerate() {
            let (r, j) = (o / n, o % n);
            let exact: f64 = (0..k)
                .map(|i| f64::from(xr[r * k + i]) * f64::from(deq[j * k + i]))
                .sum();
            assert!(
                (f64::from(got) - exact).abs() <= 1e-5 * (k as f64).sqrt() + 1e-6,
                "{tag}"
            );
        }
    }

    #[test]
    fn a_pair_of_products_is_the_two_products_one_after_the_other() {
        // Big enough for both to split their panels through the helper (the paired path), and
        // pairs that fall back: a small pair, one thread, no helper.
        let helper = super::super::spin::Helper::start().expect("a thread");
        for &(n, ka, kb) in &[(1000, 600, 300), (512, 128, 128), (64, 16, 8)] {
            let (wa, wb) = (values(n * ka, 1), values(n * kb, 2));
            let (xa, xb, y0) = (values(ka, 3), values(kb, 4), values(n, 5));
            for p in Precision::ALL {
                let (qa, qb) = (QWeights::new(&wa, n, ka, p), QWeights::new(&wb, n, kb, p));
                for accumulate in [false, true] {
                    let mut want = y0.clone();
                    gemv(&qa, 1, &xa, &mut want, accumulate, 1, None);
                    gemv(&qb, 1, &xb, &mut want, true, 1, None);
                    for (threads, spin) in [(2, Some(&helper)), (1, Some(&helper)), (2, None)] {
                        let mut got = y0.clone();
                        gemv_pair((&qa, &xa), (&qb, &xb), &mut got, accumulate, threads, spin);
                        let same = got
                            .iter()
                            .zip(&want)
                            .all(|(g, w)| g.to_bits() == w.to_bits());
                        assert!(
                            same,
                            "{p} {n}×({ka}+{kb}) accumulate={accumulate} threads={threads}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_widest_path_is_chosen_where_the_cpu_has_it() {
        let isa = Isa::detect();
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            assert_eq!(isa, Isa::Avx512);
        }
        println!(
            "lowp kernels on this CPU: {isa:?} (of {:?})",
            Isa::available()
        );
        assert!(Isa::available().contains(&isa));
    }
}
