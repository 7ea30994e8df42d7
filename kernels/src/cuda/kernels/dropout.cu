// Inverted dropout with the counter-based hash of kernels/src/hash.rs (SplitMix64 finaliser of
// (seed, index)), so the CPU and the GPU draw bit-identical masks. CPU twin: dropout in
// kernels/src/cpu/ops.rs.

typedef unsigned long long u64;

__device__ __forceinline__ u64 mix64(u64 seed, u64 index) {
    u64 z = seed ^ (index * 0x9E3779B97F4A7C15ull);
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// A uniform float in [0, 1) from the top 24 bits (exact, like hash::uniform).
__device__ __forceinline__ float uniform01(u64 seed, u64 index) {
    return (float)(mix64(seed, index) >> 40) * (1.0f / 16777216.0f);
}

// mask[i] = uniform(seed, i) < p ? 0 : keep; x[i] *= mask[i].
extern "C" __global__ void dropout_f32(float* x, float* mask, u64 n, float p, float keep, u64 seed) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        float m = uniform01(seed, i) < p ? 0.0f : keep;
        mask[i] = m;
        x[i] *= m;
    }
}
