// Token choice on the device, one block per row, so generation copies back only the chosen
// tokens. CPU twin and spec: pick() in kernels/src/sample.rs.
//
// The kept set is always a prefix of the tokens ranked by (probability desc, index asc), so it
// is described by a threshold (pb, ib): token i is kept when bits(p_i) > pb, or bits(p_i) == pb
// and i <= ib. Probabilities are positive floats, whose bit patterns order like their values,
// so top-k and top-p find their thresholds by binary search over those bits with block-wide
// counts and sums, recomputing p_i from the logits instead of sorting.

typedef unsigned long long u64;
typedef unsigned int u32;

#define FULL 0xffffffffu
#define NONE 0xffffffffu
#define ONE_BITS 0x3f800000u  // bits of 1.0f, the largest probability (the max logit's)

__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }

// NaN logits must not win; +inf is clamped so it still wins (as sanitize() on the CPU).
__device__ __forceinline__ float sanitize(float x) {
    return isnan(x) ? neg_inf() : fminf(x, 3.402823466e+38f);
}

// Block-wide reductions: every thread gets the result. Shared slots are per warp; the second
// barrier lets the caller reuse them at once.
template <typename T>
__device__ T block_sum(T v, T* sm) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL, v, o);
    if ((threadIdx.x & 31) == 0) sm[threadIdx.x >> 5] = v;
    __syncthreads();
    T t = 0;
    for (u32 w = 0; w < (blockDim.x >> 5); ++w) t += sm[w];
    __syncthreads();
    return t;
}

__device__ u32 block_min_u32(u32 v, u32* sm) {
    for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(FULL, v, o));
    if ((threadIdx.x & 31) == 0) sm[threadIdx.x >> 5] = v;
    __syncthreads();
    u32 t = NONE;
    for (u32 w = 0; w < (blockDim.x >> 5); ++w) t = min(t, sm[w]);
    __syncthreads();
    return t;
}

// Largest value, lowest index on ties (NONE when every value is -inf).
__device__ void block_argmax(float* v, u32* i, float* smv, u32* smi) {
    float bv = *v;
    u32 bi = *i;
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(FULL, bv, o);
        u32 oi = __shfl_xor_sync(FULL, bi, o);
        if (ov > bv || (ov == bv && oi < bi)) {
            bv = ov;
            bi = oi;
        }
    }
    if ((threadIdx.x & 31) == 0) {
        smv[threadIdx.x >> 5] = bv;
        smi[threadIdx.x >> 5] = bi;
    }
    __syncthreads();
    bv = neg_inf();
    bi = NONE;
    for (u32 w = 0; w < (blockDim.x >> 5); ++w) {
        if (smv[w] > bv || (smv[w] == bv && smi[w] < bi)) {
            bv = smv[w];
            bi = smi[w];
        }
    }
    __syncthreads();
    *v = bv;
    *i = bi;
}

// Inclusive prefix sum over the block in thread order; *total gets the block's sum.
__device__ double block_scan_f64(double v, double* sm, double* total) {
    u32 lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = 1; o < 32; o <<= 1) {
        double y = __shfl_up_sync(FULL, v, o);
        if (lane >= (u32)o) v += y;
    }
    if (lane == 31) sm[warp] = v;
    __syncthreads();
    double before = 0.0, t = 0.0;
    for (u32 w = 0; w < (blockDim.x >> 5); ++w) {
        if (w < warp) before += sm[w];
        t += sm[w];
    }
    __syncthreads();
    *total = t;
    return before + v;
}

struct Row {
    const float* x;
    u64 cols;
    float max;
    float temperature;

    __device__ float p(u64 i) const { return expf((sanitize(x[i]) - max) / temperature); }
};

__device__ __forceinline__ bool kept(u32 bits, u64 i, u32 pb, u32 ib) {
    return bits > pb || (bits == pb && i <= ib);
}

// Number of kept tokens (threshold pb, ib) whose probability bits are >= lo.
__device__ u32 count_at_least(const Row& r, u32 lo, u32 pb, u32 ib, u32* sm) {
    u32 c = 0;
    for (u64 i = threadIdx.x; i < r.cols; i += blockDim.x) {
        u32 b = __float_as_uint(r.p(i));
        c += (b >= lo && kept(b, i, pb, ib)) ? 1u : 0u;
    }
    return block_sum(c, sm);
}

// Probability mass of the kept tokens whose probability bits are >= lo (> lo when strict).
__device__ double mass_at_least(const Row& r, u32 lo, bool strict, u32 pb, u32 ib, double* sm) {
    double s = 0.0;
    for (u64 i = threadIdx.x; i < r.cols; i += blockDim.x) {
        float p = r.p(i);
        u32 b = __float_as_uint(p);
        bool in = strict ? b > lo : b >= lo;
        if (in && kept(b, i, pb, ib)) s += (double)p;
    }
    return block_sum(s, sm);
}

// Index of the n-th (1-based) kept token with probability bits == pb, in index order.
__device__ u32 nth_tie(const Row& r, u32 pb, u32 ib, u32 n, u32* sm) {
    u64 lo = 0, hi = r.cols - 1;
    while (lo < hi) {
        u64 mid = lo + (hi - lo) / 2;
        u32 c = 0;
        for (u64 i = threadIdx.x; i <= mid; i += blockDim.x) {
            u32 b = __float_as_uint(r.p(i));
            c += (b == pb && kept(b, i, pb, ib)) ? 1u : 0u;
        }
        if (block_sum(c, sm) >= n) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return (u32)lo;
}

// uniforms[row] in [0, 1) is the row's draw; top_p is already clamped to >= 0 and only used
// when use_top_p; argmax_only is set when the options do not draw (SampleOptions::draws).
// Launched with up to 1024 threads (ops.rs): the bound keeps the register count launchable.
extern "C" __global__ void __launch_bounds__(1024) sample_rows(const float* logits, u64 cols, float temperature,
                                       u32 top_k, double top_p, int use_top_p, int argmax_only,
                                       const double* uniforms, u32* out) {
    __shared__ u32 su[32];
    __shared__ double sd[32];
    __shared__ float sf[32];
    Row r;
    r.x = logits + (u64)blockIdx.x * cols;
    r.cols = cols;
    r.temperature = temperature;

    float bv = neg_inf();
    u32 bi = NONE;
    for (u64 i = threadIdx.x; i < cols; i += blockDim.x) {
        float v = sanitize(r.x[i]);
        if (v > bv) {
            bv = v;
            bi = (u32)i;
        }
    }
    block_argmax(&bv, &bi, sf, su);
    if (argmax_only || bv == neg_inf()) {
        if (threadIdx.x == 0) out[blockIdx.x] = bi == NONE ? 0u : bi;
        return;
    }
    r.max = bv;

    // Every token with p > 0 (bits >= 1) is a candidate.
    u32 pb = 1, ib = NONE;
    if (top_k > 0 && top_k < count_at_least(r, 1, pb, ib, su)) {
        u32 lo = 1, hi = ONE_BITS;
        while (lo < hi) {
            u32 mid = lo + (hi - lo + 1) / 2;
            if (count_at_least(r, mid, pb, ib, su) >= top_k) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        u32 above = lo < ONE_BITS ? count_at_least(r, lo + 1, pb, ib, su) : 0u;
        u32 ties = count_at_least(r, lo, pb, ib, su) - above;
        u32 need = top_k - above;
        ib = need < ties ? nth_tie(r, lo, NONE, need, su) : NONE;
        pb = lo;
    }
    if (use_top_p) {
        double target = top_p * mass_at_least(r, pb, false, pb, ib, sd);
        u32 lo = pb, hi = ONE_BITS;
        while (lo < hi) {
            u32 mid = lo + (hi - lo + 1) / 2;
            if (mass_at_least(r, mid, false, pb, ib, sd) >= target) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        double above = mass_at_least(r, lo, true, pb, ib, sd);
        u32 ties = count_at_least(r, lo, pb, ib, su) -
                   (lo < ONE_BITS ? count_at_least(r, lo + 1, pb, ib, su) : 0u);
        // The CPU adds equal probabilities one at a time, in index order, until it reaches the
        // target: that many ties are kept (at least one).
        double p = (double)__uint_as_float(lo);
        double want = ceil((target - above) / p);
        u32 need = want < 1.0 ? 1u : (want >= (double)ties ? ties : (u32)want);
        u32 prev_ib = lo == pb ? ib : NONE;
        ib = need < ties ? nth_tie(r, lo, lo == pb ? ib : NONE, need, su) : prev_ib;
        pb = lo;
    }

    double total = mass_at_least(r, pb, false, pb, ib, sd);
    double target = uniforms[blockIdx.x] * total;
    double running = 0.0;
    for (u64 base = 0; base < cols; base += blockDim.x) {
        u64 i = base + threadIdx.x;
        double w = 0.0;
        if (i < cols) {
            float p = r.p(i);
            if (kept(__float_as_uint(p), i, pb, ib)) w = (double)p;
        }
        double tile;
        double s = block_scan_f64(w, sd, &tile);
        u32 hit = (w > 0.0 && target < running + s) ? (u32)i : NONE;
        hit = block_min_u32(hit, su);
        if (hit != NONE) {
            if (threadIdx.x == 0) out[blockIdx.x] = hit;
            return;
        }
        running += tile;
    }
    // Rounding left the target just above the sum: the last kept token, as on the CPU.
    u32 last = 0;
    for (u64 i = threadIdx.x; i < cols; i += blockDim.x) {
        if (kept(__float_as_uint(r.p(i)), i, pb, ib)) last = (u32)i;
    }
    for (int o = 16; o > 0; o >>= 1) last = max(last, __shfl_xor_sync(FULL, last, o));
    if ((threadIdx.x & 31) == 0) su[threadIdx.x >> 5] = last;
    __syncthreads();
    if (threadIdx.x == 0) {
        u32 m = 0;
        for (u32 w = 0; w < (blockDim.x >> 5); ++w) m = max(m, su[w]);
        out[blockIdx.x] = m;
    }
}
