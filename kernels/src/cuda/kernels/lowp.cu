// Products against weights stored at reduced precision (generation): y[r, j] (+)= scale_j ·
// Σ_i W[j, i] · x[r, i] for W [n, k] row-major (f32, bf16 bits or int8 codes; `scales` is
// null except for int8), x [m, k], y [m, n]. One warp per output: its lanes stride over i and
// add up with shuffles, so the k weights of a row are read in coalesced runs. CPU twin:
// kernels/src/cpu/lowp.rs (same formats; kernels/src/precision.rs is the spec).

typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned short u16;

__device__ __forceinline__ float from_f32(float v) { return v; }
__device__ __forceinline__ float from_bf16(u16 v) { return __uint_as_float(((u32)v) << 16); }
__device__ __forceinline__ float from_int8(signed char v) { return (float)v; }

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_down_sync(0xffffffffu, v, o);
    }
    return v;
}

// 2-D grid: x blocks of warps over the n outputs, y over the m input rows.
#define QGEMV(NAME, T, LOAD)                                                                   \
    extern "C" __global__ void NAME(const T* w, const float* scales, const float* x, float* y, \
                                    u64 n, u64 k, u64 m, int accumulate) {                     \
        const u64 lane = threadIdx.x % 32;                                                     \
        const u64 warps = blockDim.x / 32;                                                     \
        for (u64 r = blockIdx.y; r < m; r += gridDim.y) {                                      \
            const float* xr = x + r * k;                                                       \
            for (u64 j = blockIdx.x * warps + threadIdx.x / 32; j < n; j += gridDim.x * warps) { \
                const T* row = w + j * k;                                                      \
                float s = 0.0f;                                                                \
                for (u64 i = lane; i < k; i += 32) {                                           \
                    s = fmaf(LOAD(row[i]), xr[i], s);                                          \
                }                                                                              \
                s = warp_sum(s);                                                               \
                if (lane == 0) {                                                               \
                    const float v = scales ? s * scales[j] : s;                                \
                    float* out = y + r * n + j;                                                \
                    *out = accumulate ? *out + v : v;                                          \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

QGEMV(qgemv_f32, float, from_f32)
QGEMV(qgemv_bf16, u16, from_bf16)
QGEMV(qgemv_int8, signed char, from_int8)

// w8a16 and w8a8 (kernels/src/precision.rs: input_row; CPU twin: the integer kernels of
// kernels/src/cpu/lowp.rs): each input row rounded to integer codes up to `top` (32767 or 127)
// with one scale s_x, then each output's exact integer sum Σ q·a against the int8 weight codes,
// rounded once to float, × s_x, × the row's scale: the CPU's values bit for bit.

#define ROUND_MAGIC 12582912.0f

// One block per input row (blockDim a multiple of 32, at most 1024): the row's largest
// magnitude and whether every value is finite (fmaxf ignores NaN as the CPU's max does, and a
// maximum is exact in any order), then its codes: round to nearest even by adding and
// subtracting 1.5·2²³ in explicitly rounded steps, clamped to ±top; NaN gives code 0 (its row's
// scale is NaN anyway).
extern "C" __global__ void round_inputs(const float* x, u64 k, u64 m, int top, int* codes,
                                        float* sx) {
    __shared__ float peak[32];
    __shared__ int finite[32];
    const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const float t = (float)top;
    for (u64 r = blockIdx.x; r < m; r += gridDim.x) {
        const float* xr = x + r * k;
        float mx = 0.0f;
        int ok = 1;
        for (u64 i = threadIdx.x; i < k; i += blockDim.x) {
            const float v = xr[i];
            mx = fmaxf(mx, fabsf(v));
            ok &= isfinite(v) ? 1 : 0;
        }
        for (int o = 16; o > 0; o >>= 1) {
            mx = fmaxf(mx, __shfl_down_sync(0xffffffffu, mx, o));
            ok &= __shfl_down_sync(0xffffffffu, ok, o);
        }
        if (lane == 0) {
            peak[warp] = mx;
            finite[warp] = ok;
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            for (unsigned w = 1; w < blockDim.x / 32; w++) {
                mx = fmaxf(mx, peak[w]);
                ok &= finite[w];
            }
            peak[0] = mx;
            finite[0] = ok;
        }
        __syncthreads();
        mx = peak[0];
        ok = finite[0];
        float s = 0.0f, inv = 0.0f;
        if (!ok) {
            s = __int_as_float(0x7fc00000);
        } else if (mx != 0.0f) {
            s = __fdiv_rn(mx, t);
            inv = __fdiv_rn(t, mx);
        }
        if (threadIdx.x == 0) {
            sx[r] = s;
        }
        for (u64 i = threadIdx.x; i < k; i += blockDim.x) {
            const float q = __fsub_rn(__fadd_rn(__fmul_rn(xr[i], inv), ROUND_MAGIC), ROUND_MAGIC);
            codes[r * k + i] = isnan(q) ? 0 : (int)fminf(fmaxf(q, -t), t);
        }
        // The shared values are read by every thread before the next row overwrites them.
        __syncthreads();
    }
}

// The products of round_inputs' codes (`codes` [m, k], `sx` [m]) with int8 weight codes
// (`w` [n, k], `scales` [n]): one warp per output, its lanes' 64-bit integer sums added with
// shuffles (exact, so in any order), then ((float)Σ · s_x) · scale, as the CPU rounds it.
extern "C" __global__ void qgemv_rounded(const signed char* w, const float* scales,
                                         const int* codes, const float* sx, float* y, u64 n,
                                         u64 k, u64 m, int accumulate) {
    const u64 lane = threadIdx.x % 32;
    const u64 warps = blockDim.x / 32;
    for (u64 r = blockIdx.y; r < m; r += gridDim.y) {
        const int* a = codes + r * k;
        for (u64 j = blockIdx.x * warps + threadIdx.x / 32; j < n; j += gridDim.x * warps) {
            const signed char* row = w + j * k;
            long long s = 0;
            for (u64 i = lane; i < k; i += 32) {
                s += (long long)row[i] * (long long)a[i];
            }
            for (int o = 16; o > 0; o >>= 1) {
                s += __shfl_down_sync(0xffffffffu, s, o);
            }
            if (lane == 0) {
                const float v = __fmul_rn(__fmul_rn(__ll2float_rn(s), sx[r]), scales[j]);
                float* out = y + r * n + j;
                *out = accumulate ? __fadd_rn(*out, v) : v;
            }
        }
    }
}
