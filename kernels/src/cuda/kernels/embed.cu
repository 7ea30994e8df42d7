// Embedding gather (forward) and scatter-add (backward). CPU twins: gather_rows and
// scatter_add_rows in kernels/src/cpu/ops.rs. Ids are checked against the table on the host;
// an out-of-range id is skipped here too, so a bad id can never fault.

typedef unsigned long long u64;

// out[r, c] = table[ids[r], c] for r < ids_n (n = ids_n * cols); table has vocab rows.
extern "C" __global__ void gather_rows(const float* table, u64 cols, u64 vocab, const unsigned int* ids,
                                       u64 n, float* out) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        u64 r = i / cols, c = i % cols;
        u64 id = ids[r];
        out[i] = id < vocab ? table[id * cols + c] : 0.0f;
    }
}

// d_table[ids[r], c] += src[r, c] with atomicAdd (repeated ids add in an unspecified order).
extern "C" __global__ void scatter_add_rows(const float* src, u64 cols, u64 vocab, const unsigned int* ids,
                                            u64 n, float* d_table) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        u64 r = i / cols, c = i % cols;
        u64 id = ids[r];
        if (id < vocab) {
            atomicAdd(d_table + id * cols + c, src[i]);
        }
    }
}
