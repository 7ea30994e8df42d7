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
