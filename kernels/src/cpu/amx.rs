//! `w8a16` products of many rows on Intel AMX (`tdpbusd`): the same exact integer sums as the
//! AVX-512 VNNI kernel ([`super::lowp`]), a 16 × 16 tile of them per instruction.
//!
//! A row's input is its 16-bit codes as two byte rows, `hi` then `lo` (`[m][2][kp]`,
//! [`super::lowp`]'s `A16`): those are the unsigned input tile's rows, so a tile of 16 rows
//! holds 8 streams. The weights' quad packing (`[k / 4][32][4]` per panel) is already the
//! signed tile's layout: 16 quads of a panel's 16-output half are 16 rows of 64 bytes, 128
//! bytes apart. Each accumulator row is one stream's `Σ q · hi` or `Σ q · lo` for 16 outputs,
//! exact in `i32` for `k < 65 536` (|q · byte| ≤ 127 · 255), and the epilogue is VNNI's:
//! `256 Σ q·hi + Σ q·lo − 32768 Σ q` in 64 bits, one rounding to `f32`, × `s_x`, × scale.
//! So the products are bit-identical to the other paths.
//!
//! Linux hands a process the AMX tile state only on request (`arch_prctl`), made once by
//! [`available`]; `RNNGYM_AMX=0` turns the kernel off.

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
use std::arch::{asm, x86_64::*};

use super::lowp::P;

/// Fewest rows (streams) of one call worth the tile set-up (an AMX instruction costs the same
/// for 2 rows as for 16). Measured at M (interleaved A/B, 2 threads, rows split between them):
/// from 4 rows a thread on, tiles win (+10 % at 8 streams, +7 % at 12); at 2 they tie.
pub(crate) const MIN_ROWS: usize = 4;

/// Whether this process may run AMX-INT8 (CPU, kernel and permission), checked once; off when
/// the environment has `RNNGYM_AMX=0`.
pub(crate) fn available() -> bool {
    static AMX: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AMX.get_or_init(|| {
        if std::env::var("RNNGYM_AMX").is_ok_and(|v| v.trim() == "0") {
            return false;
        }
        detect()
    })
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect() -> bool {
    // CPUID.(7, 0).EDX: bit 24 AMX-TILE, bit 25 AMX-INT8. The epilogue needs AVX-512 DQ.
    let edx = __cpuid_count(7, 0).edx;
    let cpu = edx & (3 << 24) == 3 << 24
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq");
    // arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA): 0 once the kernel lets this process
    // (every thread) use the tile data; an error on kernels or VMs without it.
    cpu && request_tile_data() == 0
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

/// The `arch_prctl` system call asking for the AMX tile data state; its return value.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tile_data() -> i64 {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: u64 = 0x1023;
    const XFEATURE_XTILEDATA: u64 = 18;
    let ret: i64;
    // SAFETY: a plain system call with two integer arguments; it reads and writes no memory of
    // ours, and the kernel clobbers only rcx and r11.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// `ldtilecfg`'s operand: palette 1; tiles 0–5 (accumulators and inputs) `rows` rows, tiles
/// 6 and 7 (weights) 16 rows; every row 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn new(rows: usize) -> TileConfig {
        let mut c = [0u8; 64];
        c[0] = 1;
        for t in 0..8 {
            c[16 + 2 * t..18 + 2 * t].copy_from_slice(&64u16.to_le_bytes());
            c[48 + t] = if t < 6 { rows as u8 } else { 16 };
        }
        TileConfig(c)
    }
}

/// The weights and scales of one `w8a16` matrix, as [`products`] reads them.
pub(crate) struct Quads<'a> {
    /// The packed panels (`[panels][k / 4][32][4]`).
    pub data: &'a [i8],
    /// Quads per panel (`k / 4`, a multiple of 16).
    pub kq: usize,
    /// Outputs (rows of the matrix).
    pub n: usize,
    /// Each output's `Σ q` (padded to whole panels).
    pub code_sums: &'a [i32],
    /// Each output's scale (padded to whole panels).
    pub scales: &'a [f32],
}

/// Whether [`products`] takes a product of `m` rows over `k` inputs.
pub(crate) fn fits(m: usize, k: usize) -> bool {
    m >= MIN_ROWS && k.is_multiple_of(64) && k < 65_536 && available()
}

/// `y[r·ldy + j] (+)= Σ_i W[p0·32 + j, i] · a_r[i]` for the `m` rows of `bytes` (`[m][2][kp]`,
/// `kp = 4 · kq`) with scales `s_x`, and the outputs of panels `p0 .. p1` (clipped to `n`).
///
/// # Panics
/// Where [`fits`] does not hold for `m` and `4 · w.kq`, or an extent is short.
#[allow(clippy::too_many_arguments)]
pub(crate) fn products(
    w: &Quads<'_>,
    p0: usize,
    p1: usize,
    m: usize,
    bytes: &[u8],
    s_x: &[f32],
    y: &mut [f32],
    ldy: usize,
    accumulate: bool,
) {
    let (kq, kp) = (w.kq, 4 * w.kq);
    assert!(fits(m, kp), "amx: {m} rows over {kp} inputs");
    let panel = kq * 4 * P;
    let first = p0 * P;
    let width = (p1 * P).min(w.n).saturating_sub(first);
    assert!(w.data.len() >= p1 * panel && w.code_sums.len() >= p1 * P && w.scales.len() >= p1 * P);
    assert!(bytes.len() >= 2 * m * kp && s_x.len() >= m);
    assert!(
        ldy >= width && y.len() >= (m - 1) * ldy + width,
        "amx: y extent"
    );
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        // Blocks of 16 streams (two input tiles), then one of 8, then the rest.
        let mut sums = Sums([0; 32 * 32]);
        let mut vals = [0.0f32; 16 * P];
        let mut r0 = 0;
        let mut loaded = 0;
        while r0 < m {
            let streams = match m - r0 {
                s if s >= 16 => 16,
                s => s.min(8),
            };
            let rows = 2 * streams.min(8);
            if rows != loaded {
                let cfg = TileConfig::new(rows);
                // SAFETY: the CPU has AMX and this process the tile state (`fits`); the
                // configuration is a valid palette-1 one.
                unsafe {
                    asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack, readonly))
                };
                loaded = rows;
            }
            let a = bytes[2 * r0 * kp..].as_ptr();
            for p in p0..p1 {
                let wp = w.data[p * panel..].as_ptr();
                // SAFETY: as above; the panel holds kq quads of 128 bytes, the input rows
                // 2 · streams rows of kp bytes (asserted), `sums` 32 rows of 32 i32.
                unsafe {
                    if streams == 16 {
                        pair(wp, kq, a, kp, sums.0.as_mut_ptr());
                    } else {
                        single(wp, kq, a, kp, sums.0.as_mut_ptr());
                    }
                }
                let scaled = (&w.code_sums[p * P..], &w.scales[p * P..]);
                // SAFETY: the CPU has AVX-512 F and DQ (`fits`); `sums` holds 2 · streams
                // rows, `vals` streams × 32, `s_x` the block's rows (asserted).
                unsafe { epilogue(&sums.0, streams, scaled, &s_x[r0..], &mut vals) };
                let (o0, o1) = (p * P - first, ((p + 1) * P).min(w.n) - first);
                for (s, v) in vals[..streams * P].chunks_exact(P).enumerate() {
                    super::lowp::store(&mut y[(r0 + s) * ldy..][o0..o1], v, accumulate);
                }
            }
            r0 += streams;
        }
        // SAFETY: ends this thread's use of the tiles (their state returns to init).
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    unreachable!("amx: `fits` is false off x86-64 Linux");
}

/// A tile's worth of accumulator rows, 64-byte aligned for `tilestored`.
#[repr(C, align(64))]
struct Sums([i32; 32 * 32]);

/// 16 streams (32 input rows, tiles 4 and 5) × one panel (tiles 6 and 7): sums into `out`
/// (`[32][32]` i32: row `2s` stream s's `hi` sums, `2s + 1` its `lo` sums).
///
/// # Safety
/// AMX is usable, the configuration of 16-row tiles loaded; `w` holds `kq` (a multiple of
/// 16) quads of 128 bytes, `a` 32 rows of `kp = 4 · kq` bytes, `out` 32 × 32 i32.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
unsafe fn pair(w: *const i8, kq: usize, a: *const u8, kp: usize, out: *mut i32) {
    asm!(
        "tilezero tmm0",
        "tilezero tmm1",
        "tilezero tmm2",
        "tilezero tmm3",
        options(nostack, nomem)
    );
    for q in (0..kq).step_by(16) {
        asm!(
            "tileloadd tmm4, [{a0} + {kp}*1]",
            "tileloadd tmm5, [{a1} + {kp}*1]",
            "tileloadd tmm6, [{b0} + {s}*1]",
            "tileloadd tmm7, [{b1} + {s}*1]",
            "tdpbusd tmm0, tmm4, tmm6",
            "tdpbusd tmm1, tmm4, tmm7",
            "tdpbusd tmm2, tmm5, tmm6",
            "tdpbusd tmm3, tmm5, tmm7",
            a0 = in(reg) a.add(4 * q),
            a1 = in(reg) a.add(16 * kp + 4 * q),
            kp = in(reg) kp,
            b0 = in(reg) w.add(q * 128),
            b1 = in(reg) w.add(q * 128 + 64),
            s = in(reg) 128usize,
            options(nostack, readonly)
        );
    }
    asm!(
        "tilestored [{o} + {s}*1], tmm0",
        "tilestored [{o1} + {s}*1], tmm1",
        "tilestored [{o2} + {s}*1], tmm2",
        "tilestored [{o3} + {s}*1], tmm3",
        o = in(reg) out,
        o1 = in(reg) out.add(16),
        o2 = in(reg) out.add(16 * 32),
        o3 = in(reg) out.add(16 * 32 + 16),
        s = in(reg) 128usize,
        options(nostack)
    );
}

/// Up to 8 streams (the loaded configuration's rows, tile 4) × one panel: [`pair`]'s first
/// half.
///
/// # Safety
/// As [`pair`], with `a` holding the configured rows.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
unsafe fn single(w: *const i8, kq: usize, a: *const u8, kp: usize, out: *mut i32) {
    asm!("tilezero tmm0", "tilezero tmm1", options(nostack, nomem));
    for q in (0..kq).step_by(16) {
        asm!(
            "tileloadd tmm4, [{a0} + {kp}*1]",
            "tileloadd tmm6, [{b0} + {s}*1]",
            "tileloadd tmm7, [{b1} + {s}*1]",
            "tdpbusd tmm0, tmm4, tmm6",
            "tdpbusd tmm1, tmm4, tmm7",
            a0 = in(reg) a.add(4 * q),
            kp = in(reg) kp,
            b0 = in(reg) w.add(q * 128),
            b1 = in(reg) w.add(q * 128 + 64),
            s = in(reg) 128usize,
            options(nostack, readonly)
        );
    }
    asm!(
        "tilestored [{o} + {s}*1], tmm0",
        "tilestored [{o1} + {s}*1], tmm1",
        o = in(reg) out,
        o1 = in(reg) out.add(16),
        s = in(reg) 128usize,
        options(nostack)
    );
}

/// Each of `streams` streams' 32 outputs from its `hi` and `lo` sum rows: `256 Σ q·hi + Σ q·lo −
/// 32768 Σ q` in 64 bits, rounded once to `f32`, × `s_x`, × scale (VNNI's epilogue).
///
/// # Safety
/// The CPU has AVX-512 F and DQ; `code_sums`, `scales` hold 32 values, `s_x` `streams`.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn epilogue(
    sums: &[i32; 32 * 32],
    streams: usize,
    (code_sums, scales): (&[i32], &[f32]),
    s_x: &[f32],
    vals: &mut [f32; 16 * P],
) {
    assert!(streams <= 16 && s_x.len() >= streams && code_sums.len() >= 32 && scales.len() >= 32);
    for s in 0..streams {
        for j in 0..2 {
            let o = 16 * j;
            let load =
                |row: usize| _mm512_loadu_si512(sums[row * 32 + o..].as_ptr() as *const __m512i);
            let ends = (
                code_sums[o..].as_ptr(),
                scales[o..].as_ptr(),
                vals[s * 32 + o..].as_mut_ptr(),
            );
            super::lowp::finish16(load(2 * s), load(2 * s + 1), s_x[s], ends);
        }
    }
}
