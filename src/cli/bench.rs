//! `rnngym bench`: training and generation throughput of a 2-layer LSTM (or `--cell gru|rnn`)
//! on synthetic tokens, measured the same way as `bench/pytorch_ref.py` so the two can be
//! compared side by side.

use std::time::{Duration, Instant};

use std::sync::Arc;

use rnngym_gyms::{Codec, OpaqueCodec, Step};
use rnngym_kernels::{hash, Backend, Cell, Precision};
use rnngym_trainer::device::Device;
use rnngym_trainer::dist::Collective;
use rnngym_trainer::generate::MAX_STREAMS;
use rnngym_trainer::{Config, Gradients, Learner, ModelDims};

use super::device_arg::{self, on_device};

mod busy;
mod generate;
mod roof;

use busy::BusyLoad;

/// Arguments of `rnngym bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Model and batch shape: s (H=128, B=32, T=64), m (H=256, B=50, T=50), l (H=512, B=64,
    /// T=100); all are 2-layer networks with V=65 and embedding size E = H.
    #[arg(long, value_enum, default_value = "s")]
    preset: Preset,
    /// Recurrent cell of the 2-layer network (bench/pytorch_ref.py takes the same flag).
    #[arg(long, value_parser = cell_parser(), default_value = "lstm")]
    cell: Cell,
    /// What to measure.
    #[arg(long, value_enum, default_value = "both")]
    mode: Measure,
    /// Seconds of measurement per mode (after a warm-up).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// CPU threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Where the model runs: cpu, auto, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Competing load: this many threads spinning at full speed beside the measurement, as
    /// another busy process's would (the OS schedules threads, not processes), to measure how
    /// rnngym degrades on a busy machine.
    #[arg(long, default_value_t = 0)]
    busy: usize,
    /// Streams generated at once by `--mode generate`, a comma-separated list (e.g.
    /// 1,4,16,64): each count's tokens/s over all its streams, and its ratio to N = 1.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    streams: Vec<usize>,
    /// Training batch (lanes, the global batch under mpirun) instead of the preset's.
    #[arg(long)]
    batch: Option<usize>,
    /// Storage precision of the weights `--mode generate` multiplies by: f32, bf16, int8,
    /// w8a16 or w8a8.
    #[arg(long, default_value_t = Precision::F32)]
    precision: Precision,
    /// Interleaved rounds over the stream counts (each gets --seconds / rounds per round); the
    /// median round is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// A benchmark shape.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Preset {
    S,
    M,
    L,
}

/// `--cell`: the names [`Cell`] itself goes by (the kernels do not depend on clap), listed in
/// `--help` and in the error for any other value.
fn cell_parser() -> impl clap::builder::TypedValueParser<Value = Cell> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Cell::ALL.map(Cell::name))
        .try_map(|name| name.parse::<Cell>())
}

/// Which numbers to measure.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Measure {
    Train,
    Generate,
    Both,
}

/// Vocabulary size of every preset (tinyshakespeare's character set).
const VOCAB: usize = 65;

impl Preset {
    /// `(H, B, T)`.
    fn shape(self) -> (usize, usize, usize) {
        match self {
            Preset::S => (128, 32, 64),
            Preset::M => (256, 50, 50),
            Preset::L => (512, 64, 100),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Preset::S => "s",
            Preset::M => "m",
            Preset::L => "l",
        }
    }
}

/// Runs the benchmark and prints the result.
pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.seconds.is_finite() && a.seconds > 0.0,
        "--seconds: expected a positive number, got {}",
        a.seconds
    );
    anyhow::ensure!(
        a.busy <= 256,
        "--busy: expected at most 256 competing threads, got {}",
        a.busy
    );
    anyhow::ensure!(
        a.streams.iter().all(|n| (1..=MAX_STREAMS).contains(n)),
        "--streams: expected stream counts from 1 to {MAX_STREAMS}, got {:?}",
        a.streams
    );
    anyhow::ensure!(
        a.batch.is_none_or(|b| (1..=4096).contains(&b)),
        "--batch: expected 1 to 4096 lanes, got {}",
        a.batch.unwrap_or(0)
    );
    anyhow::ensure!(
        (1..=100).contains(&a.rounds),
        "--rounds: expected 1 to 100 rounds, got {}",
        a.rounds
    );
    // Under `mpirun` (a build with `--features mpi`) each rank trains its share of the
    // preset's batch with the shipped data-parallel step; rank 0 reports.
    let session = super::distributed::join()?;
    let comm = session.comm();
    let local =
        (comm.world() > 1).then(|| rnngym_trainer::dist::launcher_local_rank().unwrap_or(0));
    let source = format!("--device {}", a.device);
    let dev = device_arg::open_for_rank(&a.device, &source, a.threads, local)?;
    let on_gpu = matches!(dev, Device::Cuda(_));
    let _load = BusyLoad::start(a.busy);
    let result = on_device!(dev, be => bench_on(be, &a, on_gpu, &comm));
    match result {
        Err(e) if comm.world() > 1 => super::distributed::abort_job(&comm, e),
        other => other,
    }
}

/// Free device memory before the run minus the least seen during it (None on the CPU, whose
/// peak RSS is reported instead).
pub(super) struct DeviceMemory {
    before: Option<u64>,
    least: Option<u64>,
}

impl DeviceMemory {
    fn start<B: Backend>(be: &B, on_gpu: bool) -> Self {
        let before = if on_gpu { be.memory_available() } else { None };
        DeviceMemory {
            before,
            least: before,
        }
    }
    /// Records the free memory now (call while the model's buffers are alive).
    pub(super) fn sample<B: Backend>(&mut self, be: &B) {
        if self.before.is_some() {
            self.least = self.least.min(be.memory_available());
        }
    }
    fn used_mb(&self) -> Option<f64> {
        Some(self.before?.saturating_sub(self.least?) as f64 / (1u64 << 20) as f64)
    }
}

fn bench_on<B: Backend>(
    be: &B,
    a: &BenchArgs,
    on_gpu: bool,
    comm: &Arc<dyn Collective>,
) -> anyhow::Result<()> {
    let mut mem = DeviceMemory::start(be, on_gpu);
    let (h, b, t) = a.preset.shape();
    let b = a.batch.unwrap_or(b);
    let dims = ModelDims::plain(a.cell, VOCAB, h, h, 2);
    let budget = Duration::from_secs_f64(a.seconds);
    let world = comm.world();
    let train = match a.mode {
        Measure::Train | Measure::Both => {
            Some(bench_train(be, dims, b, t, budget, &mut mem, comm)?)
        }
        Measure::Generate => None,
    };
    // Generation is one process's business: measured on one process only.
    let (generate, bytes_per_token) = match a.mode {
        Measure::Generate | Measure::Both if world == 1 => Some(generate::bench_generate(
            be,
            dims,
            budget,
            &a.streams,
            a.rounds,
            a.precision,
            &mut mem,
        )?),
        _ => None,
    }
    .unzip();
    // N = 1's rate, measured in the same rounds: what the others are compared with.
    let base = (generate.iter().flatten())
        .find(|r| r.streams == 1)
        .map(|r| r.rate);
    let threads = match a.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // Batch 1 against the read roof: each probe measurement a tenth of --seconds, at most 0.3 s.
    let each = Duration::from_secs_f64((a.seconds / 10.0).min(0.3));
    let roof = (base.zip(bytes_per_token.flatten()))
        .map(|(r, bytes)| roof::RoofReport::measure(r, bytes, (!on_gpu).then_some(threads), each));
    let rss_mb = super::peak_rss_kb().map(|kb| kb as f64 / 1024.0);
    if comm.rank() > 0 {
        return Ok(());
    }
    if a.json {
        let mut v = serde_json::json!({
            "impl": "rnngym",
            "preset": a.preset.name(),
            "cell": a.cell.name(),
            "hidden": h, "embed": h, "layers": 2, "vocab": VOCAB, "batch": b, "seq_len": t,
            "device": be.name(),
            "threads": threads,
            "busy": a.busy,
            "ranks": world,
            "train_chars_per_s": train.map(|r| r.rate),
            "train_chars_per_s_per_rank": train.map(|r| r.rate / world as f64),
            "train_loss": train.map(|r| r.loss),
            "generate_chars_per_s": generate.as_ref().map(|g| g[0].rate),
            "generate_precision": a.precision.name(),
            "generate_streams": generate.as_ref().map(|g| g.iter().map(|r| serde_json::json!({
                "streams": r.streams,
                "chars_per_s": r.rate,
                "ratio_to_1": base.map(|b| r.rate / b),
            })).collect::<Vec<_>>()),
            "peak_rss_mb": rss_mb,
            "gpu_memory_mb": mem.used_mb(),
        });
        if let Some(r) = &roof {
            r.extend(&mut v);
        }
        println!("{v}");
    } else {
        println!(
            "rnngym bench: preset {} (2-layer {}, H=E={h}, V={VOCAB}, B={b}, T={t}), {}",
            a.preset.name(),
            a.cell.name().to_uppercase(),
            be.name()
        );
        if a.busy > 0 {
            println!("competing load: {} busy thread(s)", a.busy);
        }
        if let Some(r) = train {
            println!(
                "train:    {:>10.0} chars/s  (forward + backward + clip + Adam; last loss {:.3})",
                r.rate, r.loss
            );
            if world > 1 {
                println!(
                    "          {:>10.0} chars/s per rank ({world} ranks, {} lanes each, gradients all-reduced)",
                    r.rate / world as f64,
                    b / world
                );
            }
        }
        match generate.as_deref() {
            Some([r]) if r.streams == 1 => println!(
                "generate: {:>10.0} chars/s  (batch 1, carried state, sampled, {} weights)",
                r.rate, a.precision
            ),
            Some(rates) => {
                for r in rates {
                    let ratio =
                        base.map_or(String::new(), |b| format!("; {:.2}× N = 1", r.rate / b));
                    println!(
                        "generate N={:<4} {:>10.0} chars/s  (all streams; median of {} rounds{ratio})",
                        r.streams, r.rate, a.rounds
                    );
                }
            }
            None => {}
        }
        if let Some(r) = &roof {
            println!("{}", r.lines());
        }
        match rss_mb {
            Some(mb) => println!("peak RSS: {mb:>10.1} MB"),
            None => println!("peak RSS: unavailable (no /proc/self/status)"),
        }
        if let Some(mb) = mem.used_mb() {
            println!("GPU memory: {mb:>8.1} MB (free memory before the run minus the least seen)");
        }
    }
    Ok(())
}

/// Training throughput and the last loss.
#[derive(Clone, Copy)]
struct TrainResult {
    rate: f64,
    loss: f64,
}

/// Synthetic `[B, T]` windows: uniform random tokens from a counter-based hash.
fn windows(b: usize, t: usize, n: usize) -> Vec<(Vec<u32>, Vec<u32>)> {
    (0..n as u64)
        .map(|w| {
            let tok = |i: u64| (hash::uniform(w, i) * VOCAB as f32) as u32 % VOCAB as u32;
            let inputs = (0..(b * t) as u64).map(tok).collect();
            let targets = (0..(b * t) as u64).map(|i| tok(i + 1)).collect();
            (inputs, targets)
        })
        .collect()
}

/// Whether every rank should stop: `mine` on any rank (one collective on several ranks, so
/// that all take the same number of steps).
fn any_rank(comm: &dyn Collective, mine: bool) -> anyhow::Result<bool> {
    if comm.world() == 1 {
        return Ok(mine);
    }
    let mut v = [f64::from(u8::from(mine))];
    comm.all_reduce_sum_f64(&mut v)?;
    Ok(v[0] > 0.0)
}

/// The shipped training step ([`Learner::step`]: forward + backward + global-norm clip +
/// Adam; on several ranks each takes its lanes and the gradients are all-reduced) on
/// synthetic windows, state carried. The rate is the whole batch's.
fn bench_train<B: Backend>(
    be: &B,
    dims: ModelDims,
    b: usize,
    t: usize,
    budget: Duration,
    mem: &mut DeviceMemory,
    comm: &Arc<dyn Collective>,
) -> anyhow::Result<TrainResult> {
    let mut cfg = Config::default();
    (cfg.train.batch, cfg.train.seq_len, cfg.train.seed) = (b, t, 1);
    let codec: Arc<dyn Codec> = Arc::new(OpaqueCodec::new(dims.vocab));
    let mut learner = Learner::with_collective(be, &cfg, dims, &codec, comm.clone())?;
    let shard = learner.shard();
    let data: Vec<Step> = windows(b, t, 8)
        .into_iter()
        .map(|(inputs, targets)| {
            shard.window(Step {
                inputs,
                targets,
                reset: vec![false; b],
                episode_done: false,
            })
        })
        .collect();
    let lr = cfg.train.lr as f32;
    let mut step = |i: usize| -> anyhow::Result<f64> {
        let window = &data[i % data.len()];
        match learner.step(be, &cfg.train, window, i as u64, lr)? {
            Gradients::Ready { loss, .. } => Ok(loss),
            Gradients::Diverged(why) => anyhow::bail!("the benchmark's training diverged: {why}"),
        }
    };
    let (mut i, mut loss) = (0, f64::NAN);
    let warm = Instant::now();
    while !any_rank(
        comm.as_ref(),
        i >= 3 && (warm.elapsed() >= budget / 10 || i >= 20),
    )? {
        loss = step(i)?;
        i += 1;
    }
    let start = Instant::now();
    let mut n = 0usize;
    while !any_rank(comm.as_ref(), n > 0 && start.elapsed() >= budget)? {
        loss = step(i + n)?;
        n += 1;
    }
    // The loss comes back mid-step; the last update's launches may still be queued on a GPU:
    // reading a parameter back waits for them.
    be.read(&learner.model.params, 0, &mut [0.0])?;
    let rate = (n * b * t) as f64 / start.elapsed().as_secs_f64();
    mem.sample(be);
    Ok(TrainResult { rate, loss })
}
