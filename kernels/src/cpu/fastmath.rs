//! Branch-free, vectorisable `exp`, `sigmoid` and `tanh` for the pointwise kernels, plus the
//! run-time dispatch to an AVX2 + FMA build of those kernels.
//!
//! The approximations are the Cephes single-precision ones (range reduction by ln 2 and a
//! degree-5 polynomial for `exp`; an odd polynomial below |x| = 0.625 and `1 − 2/(e²ˣ + 1)`
//! above for `tanh`): a few ulp from the exact function (tested against f64 below), but written
//! without libm calls or branches so LLVM turns the loops that call them into SIMD code. NaN
//! propagates (clamps are written as comparisons, which NaN fails).
//!
//! Kernels are generic over [`Mad`]: [`Fused`] uses `mul_add` (one FMA instruction inside a
//! `#[target_feature(enable = "avx2,fma")]` function), [`Plain`] a separate multiply and add
//! (the portable fallback, where `mul_add` would be a slow libm call).

// The polynomial coefficients are Cephes' published values, kept digit for digit.
#![allow(clippy::excessive_precision)]

/// Multiply-add flavour of a kernel instantiation.
pub(crate) trait Mad {
    /// `a · b + c`.
    fn mad(a: f32, b: f32, c: f32) -> f32;
}

/// Fused multiply-add (use only inside functions compiled with the `fma` target feature).
pub(crate) struct Fused;
/// Separate multiply and add (portable).
pub(crate) struct Plain;

impl Mad for Fused {
    #[inline(always)]
    fn mad(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl Mad for Plain {
    #[inline(always)]
    fn mad(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// Whether this CPU runs the AVX2 + FMA kernels (checked once; std caches the answer).
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Clamps `x` to `[lo, hi]`, letting NaN through.
#[inline(always)]
fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x < lo { lo } else { x };
    if x > hi {
        hi
    } else {
        x
    }
}

/// `eˣ`, within ~2 ulp for x in [−87.3, 88.4]; 0 below that range and +inf above, like libm.
#[inline(always)]
pub(crate) fn exp<M: Mad>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so n · C1 is exact for |n| < 2⁹.
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    // 1.5 · 2²³: adding it rounds to an integer held in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let x0 = x;
    let x = clamp(x, -87.33, 88.37);
    let t = M::mad(x, LOG2E, MAGIC);
    let n = t - MAGIC;
    let bits = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    let r = M::mad(n, -C2, M::mad(n, -C1, x));
    let mut p = 1.987_569_1e-4;
    p = M::mad(p, r, 1.398_2e-3);
    p = M::mad(p, r, 8.333_452e-3);
    p = M::mad(p, r, 4.166_579_6e-2);
    p = M::mad(p, r, 1.666_666_5e-1);
    p = M::mad(p, r, 5.000_000_1e-1);
    let y = M::mad(p, r * r, r + 1.0);
    let y = y * f32::from_bits(((bits + 127) as u32) << 23);
    let y = if x0 > 88.72 { f32::INFINITY } else { y };
    if x0 < -87.34 {
        0.0
    } else {
        y
    }
}

/// Logistic sigmoid `1 / (1 + e⁻ˣ)`.
#[inline(always)]
pub(crate) fn sigmoid<M: Mad>(x: f32) -> f32 {
    1.0 / (1.0 + exp::<M>(-x))
}

/// Hyperbolic tangent.
#[inline(always)]
pub(crate) fn tanh<M: Mad>(x: f32) -> f32 {
    let a = x.abs();
    // Small |x|: x + x³·P(x²), no cancellation.
    let z = x * x;
    let mut p = -5.704_988_7e-3;
    p = M::mad(p, z, 2.063_908_9e-2);
    p = M::mad(p, z, -5.373_971_6e-2);
    p = M::mad(p, z, 1.333_144_2e-1);
    p = M::mad(p, z, -3.333_328_2e-1);
    let small = M::mad(p * z, x, x);
    // Large |x|: 1 − 2/(e^{2|x|} + 1) with the sign of x (exp saturates, giving ±1).
    let big = (1.0 - 2.0 / (exp::<M>(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 {
        small
    } else {
        big
    }
}

/// Calls the generic kernel `$kernel::<M: Mad>(args)` with AVX2 + FMA code generation when the
/// CPU has it, else the portable build. The kernel must be `#[inline(always)]` so that it is
/// compiled inside the `#[target_feature]` shim this defines. Arguments are `name: Type` pairs,
/// optionally followed by `-> ReturnType`.
macro_rules! dispatch {
    ($kernel:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)?) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn shim($($arg: $ty),*) $(-> $ret)? {
                $kernel::<$crate::cpu::fastmath::Fused>($($arg),*)
            }
            if $crate::cpu::fastmath::has_avx2_fma() {
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                unsafe { shim($($arg),*) }
            } else {
                $kernel::<$crate::cpu::fastmath::Plain>($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $kernel::<$crate::cpu::fastmath::Plain>($($arg),*)
        }
    }};
}
pub(crate) use dispatch;

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep() -> impl Iterator<Item = f32> {
        (-200_000..=200_000).map(|i| i as f32 * 1e-4)
    }

    fn rel(got: f32, want: f64) -> f64 {
        (got as f64 - want).abs() / want.abs().max(1e-30)
    }

    #[test]
    fn exp_is_within_a_few_ulp() {
        let mut worst = 0.0f64;
        for x in sweep().chain([-87.0, -50.5, 50.5, 88.0]) {
            worst = worst.max(rel(exp::<Plain>(x), (x as f64).exp()));
            worst = worst.max(rel(exp::<Fused>(x), (x as f64).exp()));
        }
        assert!(worst < 5e-7, "exp worst relative error {worst:e}");
        assert!(exp::<Plain>(-1000.0) == 0.0 && exp::<Plain>(1000.0) == f32::INFINITY);
        assert!(exp::<Plain>(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_and_tanh_are_within_a_few_ulp() {
        let (mut ws, mut wt) = (0.0f64, 0.0f64);
        for x in sweep().chain([1e-30, -1e-8, 1e-5, 0.6249, 0.625, 9.0, -30.0]) {
            let xd = x as f64;
            ws = ws.max(rel(sigmoid::<Plain>(x), 1.0 / (1.0 + (-xd).exp())));
            ws = ws.max(rel(sigmoid::<Fused>(x), 1.0 / (1.0 + (-xd).exp())));
            wt = wt.max(rel(tanh::<Plain>(x), xd.tanh()));
            wt = wt.max(rel(tanh::<Fused>(x), xd.tanh()));
        }
        assert!(ws < 1e-6, "sigmoid worst relative error {ws:e}");
        assert!(wt < 1e-6, "tanh worst relative error {wt:e}");
        assert_eq!(tanh::<Plain>(100.0), 1.0);
        assert_eq!(tanh::<Plain>(-100.0), -1.0);
        assert_eq!(sigmoid::<Plain>(-200.0), 0.0);
        assert_eq!(sigmoid::<Plain>(200.0), 1.0);
        assert!(tanh::<Plain>(f32::NAN).is_nan() && sigmoid::<Plain>(f32::NAN).is_nan());
    }
}
