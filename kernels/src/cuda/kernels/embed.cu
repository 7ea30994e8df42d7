// Embedding gather (forward) and scatter-add (backward). CPU twins: gather_rows and
// scatter_add_rows in kernels/src/cpu/ops.rs. Ids are checked against the table on the host.
// 2-D grids: x runs over columns (coalesced), y over rows, both grid-stride, so no index needs
// a 64-bit division.

typedef unsigned long long u64;
typedef unsigned int u32;

#define FOR_ROWS(r, rows) \
    for (u64 r = blockIdx.y * (u64)blockDim.y + threadIdx.y; r < (rows); r += (u64)gridDim.y * blockDim.y)
#define FOR_COLS(c, cols) \
    for (u64 c = blockIdx.x * (u64)blockDim.x + threadIdx.x; c < (cols); c += (u64)gridDim.x * blockDim.x)

// out[r, c] = table[ids[r], c] for r < n; table has vocab rows (an id past it reads zeros, so a
// bad id can never fault).
extern "C" __global__ void gather_rows(const float* table, u64 cols, u64 vocab, const u32* ids, u64 n,
                                       float* out) {
    FOR_ROWS(r, n) {
        u64 id = ids[r];
        FOR_COLS(c, cols) {
            out[r * cols + c] = id < vocab ? table[id * cols + c] : 0.0f;
        }
    }
}

// out[r, c] (+)= sum over i < per of table[ids[r * per + i], c] for r < rows: the sum formed from
// zero in order (the CPU's order), then added to out with accumulate. Ids are checked on the
// host; one past the table reads zeros as in gather_rows.
extern "C" __global__ void gather_sum_rows(const float* table, u64 cols, u64 vocab, const u32* ids, u64 per,
                                           u64 rows, int accumulate, float* out) {
    FOR_ROWS(r, rows) {
        FOR_COLS(c, cols) {
            float s = 0.0f;
            for (u64 i = 0; i < per; i++) {
                u64 id = ids[r * per + i];
                s = __fadd_rn(s, id < vocab ? table[id * cols + c] : 0.0f);
            }
            float* o = out + r * cols + c;
            *o = accumulate ? __fadd_rn(*o, s) : s;
        }
    }
}

// d_table[uniq[u], c] += src[rows[j], c] for j in starts[u] .. starts[u + 1], in that order.
// The host groups the rows by id (cuda/row_lists.rs: ids ascending, each id's rows ascending),
// so one thread owns each (id, column) and adds its rows in the CPU's order: no atomics, the
// same bits as the CPU on every run.
extern "C" __global__ void scatter_add_rows(const float* src, u64 cols, const u32* uniq, const u32* starts,
                                            const u32* rows, u64 k, float* d_table) {
    FOR_ROWS(u, k) {
        float* d = d_table + (u64)uniq[u] * cols;
        u32 j0 = starts[u], j1 = starts[u + 1];
        FOR_COLS(c, cols) {
            float acc = d[c];
            for (u32 j = j0; j < j1; ++j) {
                acc += src[(u64)rows[j] * cols + c];
            }
            d[c] = acc;
        }
    }
}
