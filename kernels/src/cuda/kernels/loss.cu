// Softmax cross-entropy, one warp per row. Writes each row's negative log-likelihood (f64) to
// row_loss (summed on the device by reduce_f64 in reduce.cu) and, when d_logits is not null,
// (softmax - onehot(target)) * grad_scale. CPU twin: softmax_xent in kernels/src/cpu/ops.rs.

typedef unsigned long long u64;

extern "C" __global__ void softmax_xent_rows(const float* logits, u64 rows, u64 cols,
                                             const unsigned int* targets, float* d_logits,
                                             float grad_scale, double* row_loss) {
    const unsigned int full = 0xffffffffu;
    u64 warp = (blockIdx.x * (u64)blockDim.x + threadIdx.x) / 32;
    u64 warps = ((u64)gridDim.x * blockDim.x) / 32;
    unsigned int lane = threadIdx.x & 31;
    for (u64 r = warp; r < rows; r += warps) {
        const float* x = logits + r * cols;
        // Subtracting the row max keeps every expf() in (0, 1].
        float m = __int_as_float(0xff800000);  // -inf
        for (u64 c = lane; c < cols; c += 32) {
            m = fmaxf(m, x[c]);
        }
        for (int o = 16; o > 0; o >>= 1) {
            m = fmaxf(m, __shfl_xor_sync(full, m, o));
        }
        float s = 0.0f;
        for (u64 c = lane; c < cols; c += 32) {
            s += expf(x[c] - m);
        }
        for (int o = 16; o > 0; o >>= 1) {
            s += __shfl_xor_sync(full, s, o);
        }
        u64 t = targets[r];
        if (t >= cols) {
            t = 0;  // checked on the host; never read out of bounds
        }
        if (d_logits != 0) {
            float k = grad_scale / s;
            float* d = d_logits + r * cols;
            for (u64 c = lane; c < cols; c += 32) {
                float v = expf(x[c] - m) * k;
                d[c] = c == t ? v - grad_scale : v;
            }
        }
        if (lane == 0) {
            row_loss[r] = log((double)s) - (double)(x[t] - m);
        }
    }
}
