//! The `Backend` trait: every numeric operation the model needs, written once per device.
//!
//! Shapes follow the design notes: B batch, T time steps, H hidden, G gates (4H LSTM, 3H GRU,
//! H RNN), V vocab. Matrices are row-major. Operands are addressed BLAS-style (buffer + element
//! offset + leading dimension) so the model can work on slices of big per-window buffers
//! (`[T, B, G]`, `[T + 1, B, H]`) without copies or allocations inside the time loop.

use crate::recurrence::{CellStep, LayerState, Recurrence};
use crate::sample::SampleOptions;
use crate::{KernelError, Precision};

/// Result type of every backend operation.
pub type Result<T> = std::result::Result<T, KernelError>;

/// One GEMM call: `C[m, n] = alpha * op(A)[m, k] · op(B)[k, n] + beta * C[m, n]`.
///
/// `op(X)` is `X` or `Xᵀ` by `trans_*`; `ld*` is the row stride of the matrix *as stored*
/// (so `A` stored `[k, m]` with `trans_a = true` has `lda >= m`). With `beta == 0` the old
/// contents of `C` are ignored (may be uninitialised / NaN).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm {
    /// Rows of `op(A)` and `C`.
    pub m: usize,
    /// Columns of `op(B)` and `C`.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of the old `C`.
    pub beta: f32,
    /// Whether `A` is stored transposed.
    pub trans_a: bool,
    /// Whether `B` is stored transposed.
    pub trans_b: bool,
    /// Element offset of `A` in its buffer.
    pub a_off: usize,
    /// Row stride of `A` as stored.
    pub lda: usize,
    /// Element offset of `B` in its buffer.
    pub b_off: usize,
    /// Row stride of `B` as stored.
    pub ldb: usize,
    /// Element offset of `C` in its buffer.
    pub c_off: usize,
    /// Row stride of `C`.
    pub ldc: usize,
}

impl Gemm {
    /// Dense, untransposed, contiguous `C = A · B` at offset 0 (tight leading dimensions).
    pub fn nn(m: usize, n: usize, k: usize) -> Self {
        Gemm {
            m,
            n,
            k,
            alpha: 1.0,
            beta: 0.0,
            trans_a: false,
            trans_b: false,
            a_off: 0,
            lda: k,
            b_off: 0,
            ldb: n,
            c_off: 0,
            ldc: n,
        }
    }
    /// `C = A · Bᵀ` with `B` stored `[n, k]` (the `x · Wᵀ` of a linear layer).
    pub fn nt(m: usize, n: usize, k: usize) -> Self {
        Gemm {
            trans_b: true,
            ldb: k,
            ..Self::nn(m, n, k)
        }
    }
    /// `C = Aᵀ · B` with `A` stored `[k, m]` (weight gradients `dYᵀ · X`).
    pub fn tn(m: usize, n: usize, k: usize) -> Self {
        Gemm {
            trans_a: true,
            lda: m,
            ..Self::nn(m, n, k)
        }
    }
    /// Sets the element offsets of A, B and C.
    pub fn offsets(self, a_off: usize, b_off: usize, c_off: usize) -> Self {
        Gemm {
            a_off,
            b_off,
            c_off,
            ..self
        }
    }
    /// Checks that `A`, `B` and `C` fit buffers of `a`, `b` and `c` elements (every backend
    /// calls this before its product).
    pub fn check(&self, a: usize, b: usize, c: usize) -> Result<()> {
        let (a_rows, a_cols) = if self.trans_a {
            (self.k, self.m)
        } else {
            (self.m, self.k)
        };
        let (b_rows, b_cols) = if self.trans_b {
            (self.n, self.k)
        } else {
            (self.k, self.n)
        };
        crate::check::matrix("gemm A", a, self.a_off, a_rows, a_cols, self.lda)?;
        crate::check::matrix("gemm B", b, self.b_off, b_rows, b_cols, self.ldb)?;
        crate::check::matrix("gemm C", c, self.c_off, self.m, self.n, self.ldc)
    }

    /// Sets `alpha` and `beta`.
    pub fn scale(self, alpha: f32, beta: f32) -> Self {
        Gemm {
            alpha,
            beta,
            ..self
        }
    }
}

/// A tight row-major block of `rows × cols` elements starting at element `off` of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    /// Element offset of row 0.
    pub off: usize,
    /// Rows.
    pub rows: usize,
    /// Columns (the row stride).
    pub cols: usize,
}

impl Rows {
    /// `rows × cols` elements at `off`.
    pub fn new(off: usize, rows: usize, cols: usize) -> Self {
        Rows { off, rows, cols }
    }
}

/// Hyper-parameters of one Adam(W) step over a flat parameter buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// Learning rate for this step.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator epsilon.
    pub eps: f32,
    /// Decoupled weight decay (AdamW); 0 for plain Adam.
    pub weight_decay: f32,
    /// 1-based step count, for bias correction.
    pub step: u64,
}

impl AdamStep {
    /// Checks the operands of a step over `n` parameters (buffer lengths of params, grads, m,
    /// v) and computes the per-step factors on the host, once for every backend, so each
    /// device's kernel applies the same f32 numbers.
    pub fn factors(&self, n: usize, lens: [usize; 4]) -> Result<AdamFactors> {
        for (name, len) in ["adam params", "adam grads", "adam m", "adam v"]
            .into_iter()
            .zip(lens)
        {
            crate::check::span(name, len, 0, n)?;
        }
        if self.step == 0 {
            return crate::check::shape_err("adam: step is 1-based, got 0".into());
        }
        // Bias corrections in f64: beta2^t underflows f32 precision long before training ends.
        let bc1 = 1.0 - f64::from(self.beta1).powf(self.step as f64);
        let bc2 = 1.0 - f64::from(self.beta2).powf(self.step as f64);
        Ok(AdamFactors {
            step_size: (f64::from(self.lr) / bc1) as f32,
            inv_bc2_sqrt: (1.0 / bc2.sqrt()) as f32,
            decay: 1.0 - self.lr * self.weight_decay,
        })
    }
}

/// The per-step scalars of an Adam(W) update: `p ← p·decay − step_size·m / (√v·inv_bc2_sqrt
/// + eps)` after the moment updates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamFactors {
    /// `lr / (1 − β₁ᵗ)`.
    pub step_size: f32,
    /// `1 / √(1 − β₂ᵗ)`.
    pub inv_bc2_sqrt: f32,
    /// `1 − lr · weight_decay` (decoupled weight decay).
    pub decay: f32,
}

/// Hyper-parameters of one RMSProp step (PyTorch semantics, no momentum).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropStep {
    /// Learning rate for this step.
    pub lr: f32,
    /// Squared-gradient decay.
    pub alpha: f32,
    /// Denominator epsilon.
    pub eps: f32,
}

/// A communicator joining one device of each process of a data-parallel job (NCCL for CUDA):
/// it averages a buffer over the processes where it lies, with no copy through the host.
pub trait DeviceGroup<Buf>: Send + Sync {
    /// Replaces `buf[..n]` on every process by its element-wise mean over the processes.
    fn all_reduce_mean(&self, buf: &mut Buf, n: usize) -> Result<()>;
}

/// A numeric device. The CPU backend is the reference; others must match it (parity tests).
///
/// Buffers are flat `f32` (`Buf`) or `u32` token ids (`IBuf`). All offsets and lengths are in
/// elements. Implementations check bounds and return `KernelError::Shape` rather than panic.
pub trait Backend: Send + Sync + 'static {
    /// Device buffer of `f32`.
    type Buf: Send + Sync;
    /// Device buffer of `u32` token ids.
    type IBuf: Send + Sync;
    /// A weight matrix at reduced precision, in the layout [`Backend::qgemv`] reads.
    type QBuf: Send + Sync;

    /// Short human-readable device name for logs ("cpu (2 threads)", "cuda:0 NVIDIA H100").
    fn name(&self) -> String;

    // ---- memory ----
    /// Bytes of buffer memory still free (host RAM for the CPU, device memory for a GPU), so
    /// callers can refuse a model that cannot fit before allocating it; None when unknown.
    fn memory_available(&self) -> Option<u64> {
        None
    }
    /// Whether batch-1 generation at `f32` should multiply through [`Backend::qgemv`] (weights
    /// packed once) rather than [`Backend::gemm`]: the CPU's packed kernels beat a general
    /// GEMM's per-call cost on one row (docs/PERFORMANCE.md).
    fn f32_steps_through_qgemv(&self) -> bool {
        false
    }
    /// Whether this backend has device collectives ([`DeviceGroup`]): CUDA with NCCL installed.
    /// Without them a data-parallel job sums its gradients through the host.
    fn device_groups(&self) -> bool {
        false
    }
    /// Creates the id of a new [`DeviceGroup`] (NCCL's 128-byte unique id) for rank 0 to send to
    /// the others (a [`KernelError::Unavailable`] without [`Backend::device_groups`]).
    fn device_group_id(&self) -> Result<Vec<u8>> {
        Err(KernelError::Unavailable(format!(
            "{} has no device collectives",
            self.name()
        )))
    }
    /// Joins the group `id` (from [`Backend::device_group_id`] on rank 0) as `rank` of `world`;
    /// every rank calls it, and it returns when all have joined.
    fn join_device_group(
        &self,
        id: &[u8],
        rank: usize,
        world: usize,
    ) -> Result<Box<dyn DeviceGroup<Self::Buf>>> {
        let _ = (id, rank, world);
        Err(KernelError::Unavailable(format!(
            "{} has no device collectives",
            self.name()
        )))
    }
    /// A zero-filled buffer of `n` elements.
    fn zeros(&self, n: usize) -> Result<Self::Buf>;
    /// A buffer holding a copy of `data`.
    fn upload(&self, data: &[f32]) -> Result<Self::Buf>;
    /// Overwrites `buf[off .. off + data.len()]` with `data`.
    fn write(&self, buf: &mut Self::Buf, off: usize, data: &[f32]) -> Result<()>;
    /// Copies `buf[off .. off + out.len()]` to the host.
    fn read(&self, buf: &Self::Buf, off: usize, out: &mut [f32]) -> Result<()>;
    /// Number of elements in `buf`.
    fn len(&self, buf: &Self::Buf) -> usize;
    /// A token-id buffer of `n` zeros.
    fn zeros_ids(&self, n: usize) -> Result<Self::IBuf>;
    /// Overwrites `buf[0 .. ids.len()]` with `ids`.
    fn write_ids(&self, buf: &mut Self::IBuf, ids: &[u32]) -> Result<()>;
    /// Sets `buf[off .. off + n]` to `value`.
    fn fill(&self, buf: &mut Self::Buf, off: usize, n: usize, value: f32) -> Result<()>;
    /// Sets row `r` of `block` (`rows × cols`, tight) to `value` for every `r` with `select[r]`
    /// (`select.len() == block.rows`): the reset lanes of a carried state. The default, one
    /// [`Backend::fill`] per selected row, is the spec; a GPU does it in one launch.
    fn fill_rows(
        &self,
        buf: &mut Self::Buf,
        block: Rows,
        select: &[bool],
        value: f32,
    ) -> Result<()> {
        crate::operands::fill_rows(self.len(buf), block, select)?;
        for (r, _) in select.iter().enumerate().filter(|&(_, &s)| s) {
            self.fill(buf, block.off + r * block.cols, block.cols, value)?;
        }
        Ok(())
    }
    /// Copies `n` elements from `src[src_off..]` to `dst[dst_off..]` (different buffers).
    fn copy(
        &self,
        src: &Self::Buf,
        src_off: usize,
        dst: &mut Self::Buf,
        dst_off: usize,
        n: usize,
    ) -> Result<()>;
    /// Copies `n` elements inside one buffer; the ranges must not overlap.
    fn copy_within(
        &self,
        buf: &mut Self::Buf,
        src_off: usize,
        dst_off: usize,
        n: usize,
    ) -> Result<()>;

    // ---- dense algebra ----
    /// `C = alpha * op(A) · op(B) + beta * C` (see [`Gemm`]); `a`, `b` and `c` are distinct.
    fn gemm(&self, g: &Gemm, a: &Self::Buf, b: &Self::Buf, c: &mut Self::Buf) -> Result<()>;
    /// Sets every row of `out[off..]` (`rows × cols`, tight) to `bias[bias_off .. bias_off + cols]`.
    fn broadcast_rows(
        &self,
        bias: &Self::Buf,
        bias_off: usize,
        out: &mut Self::Buf,
        off: usize,
        rows: usize,
        cols: usize,
    ) -> Result<()>;
    /// `dst[dst_off + c] (+)= Σ_r src[block.off + r * block.cols + c]` over the block's rows;
    /// adds when `accumulate`.
    fn sum_rows(
        &self,
        src: &Self::Buf,
        block: Rows,
        dst: &mut Self::Buf,
        dst_off: usize,
        accumulate: bool,
    ) -> Result<()>;
    /// `a[a_off + i] *= b[b_off + i]` for `i < n`.
    fn mul_assign(
        &self,
        a: &mut Self::Buf,
        a_off: usize,
        b: &Self::Buf,
        b_off: usize,
        n: usize,
    ) -> Result<()>;
    /// `buf[off + i] *= s` for `i < n`.
    fn scale(&self, buf: &mut Self::Buf, off: usize, n: usize, s: f32) -> Result<()>;
    /// `Σ buf[off + i]²` for `i < n`, accumulated in f64 (global-norm clipping).
    fn sum_squares(&self, buf: &Self::Buf, off: usize, n: usize) -> Result<f64>;

    // ---- embedding ----
    /// `out[r, :] = table[ids[r], :]` for `r < ids_n`; `table` is `[V, cols]`.
    fn gather_rows(
        &self,
        table: &Self::Buf,
        cols: usize,
        ids: &Self::IBuf,
        ids_n: usize,
        out: &mut Self::Buf,
    ) -> Result<()>;
    /// `out[r, :] (+)= Σ_{i < per} table[ids[r · per + i], :]` for `r < rows`: each row the sum
    /// of `per` gathered table rows (the input channels of one lane's step), summed in order
    /// from zero, then added to `out` with `accumulate`, else written over it.
    #[allow(clippy::too_many_arguments)]
    fn gather_sum_rows(
        &self,
        table: &Self::Buf,
        cols: usize,
        ids: &Self::IBuf,
        per: usize,
        rows: usize,
        out: &mut Self::Buf,
        accumulate: bool,
    ) -> Result<()>;
    /// `d_table[ids[r], :] += src[r, :]` for `r < ids_n` (embedding backward).
    fn scatter_add_rows(
        &self,
        src: &Self::Buf,
        cols: usize,
        ids: &Self::IBuf,
        ids_n: usize,
        d_table: &mut Self::Buf,
        table_off: usize,
    ) -> Result<()>;

    // ---- recurrent cells (one time step, fused pointwise math) ----
    /// The pointwise math of one cell step, forward (PyTorch semantics: `nn.LSTM`'s gate
    /// order i, f, g, o; `nn.GRU`'s r, z, n with `n = tanh(x_n + r·h_n)` and
    /// `h = (1 − z)·n + z·h_prev`; `nn.RNN`'s tanh). `step` says where it reads and writes in
    /// `s` (see [`CellStep`]); the gate block holds the summed pre-activations on entry (GRU:
    /// input part in `gates`, recurrent part in `gh`) and the activations on exit.
    fn cell_forward(&self, step: &CellStep, s: &mut LayerState<'_, Self::Buf>) -> Result<()>;
    /// The backward of [`Backend::cell_forward`] (see [`CellStep`]): turns the activations
    /// into pre-activation gradients (GRU: of both parts) from the gradient at `step.next`.
    fn cell_backward(&self, step: &CellStep, s: &mut LayerState<'_, Self::Buf>) -> Result<()>;

    // ---- a layer's whole time loop ----
    /// One layer's forward time loop over a window (see [`recurrence`](crate::recurrence)):
    /// `gates` (GRU: `gh`) gets `h_prev · W_hhᵀ` added step by step and goes through the
    /// pointwise cell, filling `hs[1..]` (and `cs[1..]`). The default runs
    /// [`forward_steps`](crate::recurrence::forward_steps), the spec.
    fn recurrent_forward(
        &self,
        r: &Recurrence,
        params: &Self::Buf,
        s: LayerState<'_, Self::Buf>,
    ) -> Result<()> {
        crate::recurrence::forward_steps(self, r, params, s)
    }
    /// One layer's backward time loop over a window: turns `gates` (GRU: and `gh`) into the
    /// pre-activation gradients and completes `dhs` (see
    /// [`backward_steps`](crate::recurrence::backward_steps), the default and the spec).
    fn recurrent_backward(
        &self,
        r: &Recurrence,
        params: &Self::Buf,
        s: LayerState<'_, Self::Buf>,
    ) -> Result<()> {
        crate::recurrence::backward_steps(self, r, params, s)
    }

    // ---- loss ----
    /// Softmax cross-entropy over `rows` rows of `logits` (`[rows, cols]`, tight).
    ///
    /// Returns the *sum* of the negative log-likelihoods (nats, f64). When `d_logits` is given,
    /// writes `(softmax − onehot(target)) · grad_scale` into it.
    fn softmax_xent(
        &self,
        logits: &Self::Buf,
        rows: usize,
        cols: usize,
        targets: &Self::IBuf,
        d_logits: Option<&mut Self::Buf>,
        grad_scale: f32,
    ) -> Result<f64>;

    // ---- generation ----
    /// Picks one token per row of the `block` of `logits` into `out`, row
    /// `r` drawing with `uniforms[r]` in `[0, 1)` (see [`sample::pick`](crate::sample::pick),
    /// the spec). Only the chosen tokens come back to the host.
    fn sample_rows(
        &self,
        logits: &Self::Buf,
        block: Rows,
        opts: &SampleOptions,
        uniforms: &[f64],
        out: &mut [u32],
    ) -> Result<()>;
    /// [`Backend::sample_rows`] with each row's own options (`opts[r]` for row `r` of the
    /// block: many streams, each sampled by its own temperature); the default picks the rows
    /// one at a time.
    fn sample_rows_each(
        &self,
        logits: &Self::Buf,
        block: Rows,
        opts: &[SampleOptions],
        uniforms: &[f64],
        out: &mut [u32],
    ) -> Result<()> {
        let rows = block.rows;
        if opts.len() != rows || uniforms.len() != rows || out.len() != rows {
            return Err(KernelError::Shape(format!(
                "sample_rows_each: {} options, {} uniforms and {} tokens for {rows} rows",
                opts.len(),
                uniforms.len(),
                out.len()
            )));
        }
        for r in 0..rows {
            let row = Rows::new(block.off + r * block.cols, 1, block.cols);
            self.sample_rows(logits, row, &opts[r], &uniforms[r..=r], &mut out[r..=r])?;
        }
        Ok(())
    }
    /// Runs `f(i, &mut items[i])` for every item: the host's own work for each lane of a step
    /// (input features, decoding drawn ids), which a backend may share with a thread of its own
    /// that would otherwise wait; the default runs the items in order on this thread.
    fn for_each_lane<T: Send>(&self, items: &mut [T], f: &(dyn Fn(usize, &mut T) + Sync)) {
        for (i, item) in items.iter_mut().enumerate() {
            f(i, item);
        }
    }

    // ---- reduced-precision weights (generation) ----
    /// Converts the `[rows, cols]` row-major block of `src` at `off` to `precision` (the
    /// formats and their rounding: [`precision`](crate::precision), the spec).
    fn quantize(
        &self,
        src: &Self::Buf,
        off: usize,
        rows: usize,
        cols: usize,
        precision: Precision,
    ) -> Result<Self::QBuf>;
    /// `y[y_off + r·n + j] (+)= Σ_i W[j, i] · x[x_off + r·k + i]` for `r < m`, `W` the `[n, k]`
    /// weights of `w`: each output row one product with `f32` sums (int8: times its row's
    /// scale), added to `y` with `accumulate`, else written over it.
    #[allow(clippy::too_many_arguments)]
    fn qgemv(
        &self,
        w: &Self::QBuf,
        m: usize,
        x: &Self::Buf,
        x_off: usize,
        y: &mut Self::Buf,
        y_off: usize,
        accumulate: bool,
    ) -> Result<()>;
    /// `y (+)= W_a · x_a + W_b · x_b` for `m` rows, each pair `(W, x, x_off)`: exactly
    /// [`Backend::qgemv`] of `a`, then of `b` accumulating (a layer's input and recurrent
    /// products, which a backend may run together).
    #[allow(clippy::type_complexity)]
    fn qgemv_pair(
        &self,
        a: (&Self::QBuf, &Self::Buf, usize),
        b: (&Self::QBuf, &Self::Buf, usize),
        m: usize,
        y: &mut Self::Buf,
        y_off: usize,
        accumulate: bool,
    ) -> Result<()> {
        self.qgemv(a.0, m, a.1, a.2, y, y_off, accumulate)?;
        self.qgemv(b.0, m, b.1, b.2, y, y_off, true)
    }

    // ---- regularisation ----
    /// Inverted dropout: fills `mask[..n]` with `0` or `1/(1-p)` from a counter-based hash of
    /// `(seed, i)` (so every backend draws the same mask) and multiplies `x[x_off..]` by it.
    fn dropout(
        &self,
        x: &mut Self::Buf,
        x_off: usize,
        mask: &mut Self::Buf,
        n: usize,
        p: f32,
        seed: u64,
    ) -> Result<()>;

    // ---- optimizers (over one flat parameter buffer) ----
    /// One Adam(W) step on `params[..n]` with gradients `grads` and moments `m`, `v`.
    fn adam_step(
        &self,
        params: &mut Self::Buf,
        grads: &Self::Buf,
        m: &mut Self::Buf,
        v: &mut Self::Buf,
        n: usize,
        s: &AdamStep,
    ) -> Result<()>;
    /// One RMSProp step on `params[..n]` with squared-gradient average `sq`.
    fn rmsprop_step(
        &self,
        params: &mut Self::Buf,
        grads: &Self::Buf,
        sq: &mut Self::Buf,
        n: usize,
        s: &RmsPropStep,
    ) -> Result<()>;
}
