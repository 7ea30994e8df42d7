// Optimizer steps over one flat parameter buffer. The scalar factors (bias corrections in f64,
// decay) are computed on the host exactly as the CPU backend does. CPU twins: adam_step and
// rmsprop_step in kernels/src/cpu/ops.rs.

typedef unsigned long long u64;

// Adam(W): m, v moments; p = p * decay - step_size * m / (sqrt(v) * inv_bc2_sqrt + eps).
extern "C" __global__ void adam_step(float* p, const float* g, float* m, float* v, u64 n, float b1,
                                     float b2, float eps, float step_size, float inv_bc2_sqrt,
                                     float decay) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) * inv_bc2_sqrt + eps);
    }
}

// RMSProp (PyTorch, no momentum): sq = a * sq + (1 - a) g^2; p -= lr * g / (sqrt(sq) + eps).
extern "C" __global__ void rmsprop_step(float* p, const float* g, float* sq, u64 n, float lr, float a,
                                        float eps) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        float gi = g[i];
        float s = a * sq[i] + (1.0f - a) * gi * gi;
        sq[i] = s;
        p[i] -= lr * gi / (sqrtf(s) + eps);
    }
}
