// Fused pointwise recurrent cell steps, one thread per (row, unit) of a [B, H] block (2-D grid for
// LSTM and GRU, which index the gate rows; 1-D for the RNN, which does not).
// Gate layout: row r, unit j of gate q lives at r * kH + q * H + j (PyTorch order: LSTM i, f,
// g, o; GRU r, z, n). CPU twins: kernels/src/cpu/cells.rs and cpu/reference/cells.rs.

typedef unsigned long long u64;

__device__ __forceinline__ float sigmoidf_(float x) {
    return 1.0f / (1.0f + expf(-x));
}

#define FOR_EACH(k, n) \
    for (u64 k = blockIdx.x * (u64)blockDim.x + threadIdx.x; k < (n); k += (u64)gridDim.x * blockDim.x)

// A [B, H] block on a 2-D grid (x units, y rows), so k = row * h + j needs no 64-bit division.
#define FOR_ROWS(r, rows) \
    for (u64 r = blockIdx.y * (u64)blockDim.y + threadIdx.y; r < (rows); r += (u64)gridDim.y * blockDim.y)
#define FOR_COLS(c, cols) \
    for (u64 c = blockIdx.x * (u64)blockDim.x + threadIdx.x; c < (cols); c += (u64)gridDim.x * blockDim.x)

// gates [B, 4H] pre-activations -> activations; c = f * c_prev + i * g; h = o * tanh(c).
// c_prev and c may be the same range (in place).
extern "C" __global__ void lstm_fwd(u64 b, u64 h, float* gates, const float* c_prev, float* c, float* hs) {
    FOR_ROWS(r, b) FOR_COLS(j, h) {
        u64 k = r * h + j;
        float* g = gates + r * 4 * h + j;
        float i = sigmoidf_(g[0]);
        float f = sigmoidf_(g[h]);
        float gg = tanhf(g[2 * h]);
        float o = sigmoidf_(g[3 * h]);
        float cj = f * c_prev[k] + i * gg;
        c[k] = cj;
        hs[k] = o * tanhf(cj);
        g[0] = i;
        g[h] = f;
        g[2 * h] = gg;
        g[3 * h] = o;
    }
}

// Activations in gates -> pre-activation gradients; dc (grad w.r.t. c) -> grad w.r.t. c_prev.
extern "C" __global__ void lstm_bwd(u64 b, u64 h, float* gates, const float* c_prev, const float* c,
                                    const float* dh, float* dc) {
    FOR_ROWS(r, b) FOR_COLS(j, h) {
        u64 k = r * h + j;
        float* g = gates + r * 4 * h + j;
        float i = g[0], f = g[h], gg = g[2 * h], o = g[3 * h];
        float tc = tanhf(c[k]);
        float dct = dc[k] + dh[k] * o * (1.0f - tc * tc);
        dc[k] = dct * f;
        g[0] = dct * gg * i * (1.0f - i);
        g[h] = dct * c_prev[k] * f * (1.0f - f);
        g[2 * h] = dct * i * (1.0f - gg * gg);
        g[3 * h] = dh[k] * tc * o * (1.0f - o);
    }
}

// GRU: r = s(x_r + h_r), z = s(x_z + h_z), n = tanh(x_n + r * h_n), h = (1 - z) n + z h_prev.
// gx [B, 3H] -> (r, z, n); gh [B, 3H] read only; h_prev and h may be the same range.
extern "C" __global__ void gru_fwd(u64 b, u64 h, float* gx, const float* gh, const float* h_prev, float* hs) {
    FOR_ROWS(row, b) FOR_COLS(j, h) {
        u64 k = row * h + j;
        float* x = gx + row * 3 * h + j;
        const float* hh = gh + row * 3 * h + j;
        float r = sigmoidf_(x[0] + hh[0]);
        float z = sigmoidf_(x[h] + hh[h]);
        float n = tanhf(x[2 * h] + r * hh[2 * h]);
        hs[k] = (1.0f - z) * n + z * h_prev[k];
        x[0] = r;
        x[h] = z;
        x[2 * h] = n;
    }
}

// GRU backward: gx (r, z, n) -> x-part grads, gh (h_n) -> h-part grads, dh_prev += dh * z.
extern "C" __global__ void gru_bwd(u64 b, u64 h, float* gx, float* gh, const float* h_prev,
                                   const float* dh, float* dh_prev) {
    FOR_ROWS(row, b) FOR_COLS(j, h) {
        u64 k = row * h + j;
        float* x = gx + row * 3 * h + j;
        float* hh = gh + row * 3 * h + j;
        float r = x[0], z = x[h], n = x[2 * h];
        float d = dh[k];
        float dn_pre = d * (1.0f - z) * (1.0f - n * n);
        float dz_pre = d * (h_prev[k] - n) * z * (1.0f - z);
        float dr_pre = dn_pre * hh[2 * h] * r * (1.0f - r);
        dh_prev[k] += d * z;
        x[0] = dr_pre;
        x[h] = dz_pre;
        x[2 * h] = dn_pre;
        hh[0] = dr_pre;
        hh[h] = dz_pre;
        hh[2 * h] = dn_pre * r;
    }
}

// Vanilla RNN forward: gates = tanh(gates), copied to hs (n = B * H).
extern "C" __global__ void rnn_fwd(u64 n, float* gates, float* hs) {
    FOR_EACH(k, n) {
        float y = tanhf(gates[k]);
        gates[k] = y;
        hs[k] = y;
    }
}

// Vanilla RNN backward: gates (holding h) = dh * (1 - h^2).
extern "C" __global__ void rnn_bwd(u64 n, float* gates, const float* dh) {
    FOR_EACH(k, n) {
        float y = gates[k];
        gates[k] = dh[k] * (1.0f - y * y);
    }
}
