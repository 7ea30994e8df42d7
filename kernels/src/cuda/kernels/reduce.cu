// Deterministic reductions to one f64: a fixed-size first pass writes one partial per block,
// a single block adds the partials. CPU twins: sum_squares in kernels/src/cpu/ops.rs; the row
// losses of softmax_xent (loss.cu) are summed with reduce_f64.

typedef unsigned long long u64;

// Tree-sums `v` over a block of 256 threads through shared memory; thread 0 gets the total.
__device__ double block_sum_256(double v) {
    __shared__ double s[256];
    s[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int w = 128; w > 0; w >>= 1) {
        if (threadIdx.x < w) {
            s[threadIdx.x] += s[threadIdx.x + w];
        }
        __syncthreads();
    }
    return s[0];
}

// partials[blockIdx.x] = sum of x[i]^2 over this block's grid-stride share (256 threads).
extern "C" __global__ void sum_squares_partial(const float* x, u64 n, double* partials) {
    double acc = 0.0;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        double v = (double)x[i];
        acc += v * v;
    }
    double total = block_sum_256(acc);
    if (threadIdx.x == 0) {
        partials[blockIdx.x] = total;
    }
}

// out[0] = sum of xs[0..n] (one block of 256 threads).
extern "C" __global__ void reduce_f64(const double* xs, u64 n, double* out) {
    double acc = 0.0;
    for (u64 i = threadIdx.x; i < n; i += blockDim.x) {
        acc += xs[i];
    }
    double total = block_sum_256(acc);
    if (threadIdx.x == 0) {
        out[0] = total;
    }
}
