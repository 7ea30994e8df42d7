//! The naive reference ("spec") of every backend op: plain loops on slices, written to be
//! obviously correct rather than fast. The fast CPU path and every other backend are tested
//! against these functions.
//!
//! Arguments mirror [`Backend`](crate::Backend) with slices in place of buffers. Shapes are
//! assumed valid: unlike the backend, these functions panic on an out-of-range index. The cell
//! math and the loss are generic over [`Real`] so gradient checks can run them in `f64`.

mod cells;
mod dense;

pub use cells::{cell_backward, cell_forward, sigmoid};
pub use dense::{
    adam_step, broadcast_rows, dropout, gather_rows, gather_sum_rows, gemm, mul_assign,
    rmsprop_step, scale, scatter_add_rows, softmax_xent, sum_rows, sum_squares,
};

use std::ops::{Add, Div, Mul, Neg, Sub};

/// A floating-point scalar the generic reference code runs on (`f32` or `f64`).
pub trait Real:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// Converts from `f64` (rounding for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Converts to `f64`.
    fn to_f64(self) -> f64;
    /// `eˣ`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
}

macro_rules! impl_real {
    ($t:ty) => {
        impl Real for $t {
            #[inline]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
        }
    };
}
impl_real!(f32);
impl_real!(f64);
