// Elementwise and row-wise helpers: fill, scale, mul_assign, broadcast_rows, sum_rows.
// fp32, header-free (NVRTC has no headers). Sizes are 64-bit; every kernel is a grid-stride
// loop so any grid size is correct. CPU twins: kernels/src/cpu/ops.rs and backend.rs.

typedef unsigned long long u64;

// x[i] = v for i < n.
extern "C" __global__ void fill_f32(float* x, u64 n, float v) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        x[i] = v;
    }
}

// x[i] *= s for i < n.
extern "C" __global__ void scale_f32(float* x, u64 n, float s) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        x[i] *= s;
    }
}

// a[i] *= b[i] for i < n.
extern "C" __global__ void mul_assign_f32(float* a, const float* b, u64 n) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        a[i] *= b[i];
    }
}

// out[r, c] = bias[c] for a tight [rows, cols] block (n = rows * cols).
extern "C" __global__ void broadcast_rows_f32(const float* bias, float* out, u64 n, u64 cols) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        out[i] = bias[i % cols];
    }
}

// dst[c] (+)= sum_r src[r * cols + c]. Block (32, 8): threadIdx.x picks a column of a 32-wide
// tile (coalesced reads), threadIdx.y strides over rows; the 8 partial sums are added in a
// fixed order, so the result is deterministic.
extern "C" __global__ void sum_rows_f32(const float* src, u64 rows, u64 cols, float* dst, int accumulate) {
    __shared__ float part[8][33];
    u64 c = blockIdx.x * 32ull + threadIdx.x;
    float acc = 0.0f;
    if (c < cols) {
        for (u64 r = threadIdx.y; r < rows; r += 8) {
            acc += src[r * cols + c];
        }
    }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float s = 0.0f;
        for (int k = 0; k < 8; ++k) {
            s += part[k][threadIdx.x];
        }
        dst[c] = accumulate ? dst[c] + s : s;
    }
}
