// Elementwise and row-wise helpers: fill, scale, mul_assign, broadcast_rows, fill_rows, sum_rows.
// fp32, header-free (NVRTC has no headers). Sizes are 64-bit; every kernel is a grid-stride
// loop so any grid size is correct; row-wise kernels take 2-D grids (x columns, y rows) so no
// index needs a 64-bit division. CPU twins: kernels/src/cpu/ops.rs and backend.rs; fill_rows's
// is the Backend trait's default (kernels/src/backend.rs).

typedef unsigned long long u64;
typedef unsigned int u32;

#define FOR_ROWS(r, rows) \
    for (u64 r = blockIdx.y * (u64)blockDim.y + threadIdx.y; r < (rows); r += (u64)gridDim.y * blockDim.y)
#define FOR_COLS(c, cols) \
    for (u64 c = blockIdx.x * (u64)blockDim.x + threadIdx.x; c < (cols); c += (u64)gridDim.x * blockDim.x)

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

// out[r, c] = bias[c] for a tight [rows, cols] block (2-D grid: x columns, y rows).
extern "C" __global__ void broadcast_rows_f32(const float* bias, float* out, u64 rows, u64 cols) {
    FOR_ROWS(r, rows) {
        FOR_COLS(c, cols) {
            out[r * cols + c] = bias[c];
        }
    }
}

// x[sel[s] * cols + c] = v for s < nsel, c < cols: zeroes the reset lanes of a state slot in one
// launch (2-D grid: x columns, y listed rows).
extern "C" __global__ void fill_rows_f32(float* x, u64 cols, const u32* sel, u64 nsel, float v) {
    FOR_ROWS(s, nsel) {
        float* row = x + (u64)sel[s] * cols;
        FOR_COLS(c, cols) {
            row[c] = v;
        }
    }
}

// Column sums in two fixed-order passes, so the result is deterministic for a given shape and
// the rows are spread over the grid (one pass of ceil(cols/32) blocks left most of the GPU idle
// when cols is small, e.g. the projection bias with V = 65).
//
// Pass 1, grid (ceil(cols/32), chunks), block (32, 8): block (bx, by) sums rows
// [by * chunk_rows, (by + 1) * chunk_rows) of 32 columns; threadIdx.y strides over the chunk's
// rows and the 8 partial sums are added in order. With one chunk the result goes straight to
// dst (set, or added when accumulate); else to partial[by * cols + c] for pass 2.
extern "C" __global__ void sum_rows_partial_f32(const float* src, u64 rows, u64 cols, u64 chunk_rows,
                                                float* partial, float* dst, int accumulate) {
    __shared__ float part[8][33];
    u64 c = blockIdx.x * 32ull + threadIdx.x;
    u64 r0 = blockIdx.y * chunk_rows;
    u64 r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
    float acc = 0.0f;
    if (c < cols) {
        for (u64 r = r0 + threadIdx.y; r < r1; r += 8) {
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
        if (gridDim.y == 1) {
            dst[c] = accumulate ? dst[c] + s : s;
        } else {
            partial[blockIdx.y * cols + c] = s;
        }
    }
}

// Pass 2: dst[c] (+)= sum of partial[k * cols + c] over the chunks k, in order.
extern "C" __global__ void sum_rows_final_f32(const float* partial, u64 chunks, u64 cols, float* dst,
                                              int accumulate) {
    FOR_COLS(c, cols) {
        float s = 0.0f;
        for (u64 k = 0; k < chunks; ++k) {
            s += partial[k * cols + c];
        }
        dst[c] = accumulate ? dst[c] + s : s;
    }
}
