//! `rnngym eval`: a checkpoint's loss on any data its gym and codec can read, per source (file)
//! and in total, beside online baselines scored on the same tokens (`rnngym_gyms::baselines`).
//! The gym is the checkpoint's, built from its saved config with `gym.path` = `--data`; each
//! source is walked whole from a zero state by `rnngym_trainer::eval` (the validation
//! forward), so every token but the first of each source is scored once.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rnngym_gyms::baselines::{score, KtBigram, KtUnigram, Lpc, LpcSettings};
use rnngym_gyms::text::TextGym;
use rnngym_gyms::{CharCodec, Gym, GymRegistry, Split};
use rnngym_kernels::{Backend, Precision};
use rnngym_trainer::eval::Evaluator;
use rnngym_trainer::state;

use super::device_arg::{self, on_device};

/// Arguments of `rnngym eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    model: device_arg::CheckpointArgs,
    /// Data to score: what the checkpoint's gym reads (a text file / folder / glob for
    /// text-v1, a WAV file / folder / glob for wav-v1) [default: the data it was trained on,
    /// its saved gym config].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Which part of the data: all of it, or the train / validation split the checkpoint's
    /// gym.val_fraction makes of it [default: all with --data, else val].
    #[arg(long, value_enum)]
    split: Option<SplitArg>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Score the model with its weight matrices rounded to this precision (f32, bf16, int8,
    /// w8a16 or w8a8): the model `sample --precision` and `generate-audio --precision` run
    /// (w8a16 and w8a8 score token by token through the generator, which also rounds each
    /// product's input).
    #[arg(long, default_value_t = Precision::F32)]
    precision: Precision,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum SplitArg {
    All,
    Train,
    Val,
}

impl EvalArgs {
    /// The split to score, by default all of `--data` or the validation split of the
    /// checkpoint's own data.
    fn split(&self) -> SplitArg {
        self.split.unwrap_or(match self.data {
            Some(_) => SplitArg::All,
            None => SplitArg::Val,
        })
    }
}

/// Names the scored data in messages: `--data PATH`, or the checkpoint's own gym.
fn data_label(a: &EvalArgs, loaded: &state::Loaded) -> String {
    match &a.data {
        Some(d) => format!("--data {}", d.display()),
        None => {
            let gym = &loaded.config.gym;
            match &gym.path {
                Some(p) => format!("the checkpoint's data ({} at {p})", gym.id),
                None => format!("the checkpoint's data ({})", gym.id),
            }
        }
    }
}

impl SplitArg {
    fn name(self) -> &'static str {
        match self {
            SplitArg::All => "all",
            SplitArg::Train => "train",
            SplitArg::Val => "val",
        }
    }
}

/// One row of the report: summed nats of the model and each baseline over `scored` tokens.
#[derive(Clone, Debug, Default)]
struct Row {
    name: String,
    scored: u64,
    model: f64,
    unigram: f64,
    bigram: f64,
    lpc: Option<f64>,
}

/// Loads the checkpoint, builds its gym over `--data` and scores every source.
pub fn run(a: EvalArgs, registry: &GymRegistry) -> anyhow::Result<()> {
    let (dev, loaded, path) = a.model.open(registry)?;
    on_device!(dev, be => eval_on(be, loaded, &path, &a, registry))
}

fn eval_on<B: Backend>(
    be: &B,
    loaded: state::Loaded,
    path: &Path,
    a: &EvalArgs,
    registry: &GymRegistry,
) -> anyhow::Result<()> {
    let (mut model, loaded) = state::model_from(be, loaded, path)?;
    // w8a16 and w8a8 also round each product's input: only their generator computes that, so
    // they score token by token through one; the others score the model with its weights
    // rounded.
    let through_generator = a.precision.rounds_inputs();
    if !through_generator {
        model.round_trip_weights(be, a.precision)?;
    }
    let codec = loaded.codec.clone();
    let (mut gym, split) = data_gym(&loaded, path, a, registry)?;
    let sources = gym.sources(split);
    let label = data_label(a, &loaded);
    anyhow::ensure!(
        !sources.is_empty(),
        "{label}: no {} data to score",
        a.split().name()
    );
    let audio = codec.audio();
    let lpc_cells = audio.map(|ac| {
        let levels = (0..codec.vocab_size() as u32)
            .map(|t| f64::from(ac.sample_of(t)))
            .collect::<Vec<_>>();
        (levels, ac.cell_edges())
    });
    let v = codec.vocab_size();
    let mut ev = Evaluator::new(be, &model, loaded.config.train.seq_len)?;
    if through_generator {
        ev = ev.through_generator(be, a.precision)?;
    }
    let mut rows = Vec::new();
    for i in 0..sources.len() {
        let s = ev
            .score(be, gym.as_mut(), split, i)
            .with_context(|| label.clone())?;
        let lpc = lpc_cells.as_ref().map(|(levels, edges)| {
            let mut m = Lpc::new(levels.clone(), edges.clone(), LpcSettings::default());
            score(&mut m, &s.tokens)
        });
        rows.push(Row {
            scored: s.scored(),
            model: s.nats,
            unigram: score(&mut KtUnigram::new(v), &s.tokens),
            bigram: score(&mut KtBigram::new(v), &s.tokens),
            lpc,
            name: s.name,
        });
    }
    let total = rows.iter().fold(
        Row {
            name: "total".into(),
            lpc: audio.map(|_| 0.0),
            ..Row::default()
        },
        |t, r| Row {
            scored: t.scored + r.scored,
            model: t.model + r.model,
            unigram: t.unigram + r.unigram,
            bigram: t.bigram + r.bigram,
            lpc: t.lpc.zip(r.lpc).map(|(x, y)| x + y),
            name: t.name,
        },
    );
    if a.json {
        let report = serde_json::json!({
            "checkpoint": path.display().to_string(),
            "data": label,
            "split": a.split().name(),
            "codec": codec.spec(),
            "seq_len": loaded.config.train.seq_len,
            "precision": a.precision.name(),
            "sources": rows.iter().map(row_json).collect::<Vec<_>>(),
            "total": row_json(&total),
        });
        println!("{report}");
    } else {
        if through_generator {
            println!(
                "weights at {} (scored token by token through the generator)",
                a.precision
            );
        } else if a.precision != Precision::F32 {
            println!(
                "weights at {} (rounded as generation stores them)",
                a.precision
            );
        }
        print_table(&rows, &total, audio.is_some());
    }
    Ok(())
}

/// The checkpoint's gym over `--data` and the split to walk: `all` builds it without a
/// validation split and walks its training split (every file whole).
fn data_gym(
    loaded: &state::Loaded,
    path: &Path,
    a: &EvalArgs,
    registry: &GymRegistry,
) -> anyhow::Result<(Box<dyn Gym>, Split)> {
    let mut spec = loaded.config.gym.clone();
    if let Some(d) = &a.data {
        let data = d.display().to_string();
        let pattern = data.contains(['*', '?', '[']);
        anyhow::ensure!(
            pattern || d.exists(),
            "--data {data}: no such file or directory"
        );
        spec.path = Some(data);
        spec.base_dir = std::env::current_dir().context("the current directory")?;
    }
    let data = data_label(a, loaded);
    let split = match a.split() {
        SplitArg::All => {
            spec.val_fraction = 0.0;
            Split::Train
        }
        SplitArg::Train => Split::Train,
        SplitArg::Val => Split::Val,
    };
    let saved = loaded.codec.spec();
    let gym: Box<dyn Gym> = if spec.id == rnngym_gyms::text::ID {
        // The data's own vocabulary would number the characters differently: encode with the
        // checkpoint's.
        let chars = saved["vocab"].as_str().unwrap_or_default();
        let vocab = CharCodec::from_chars(chars.chars());
        Box::new(TextGym::from_spec_with_codec(&spec, &vocab).with_context(|| data.clone())?)
    } else {
        registry.make(&spec).with_context(|| data.clone())?
    };
    let found = gym.codec().spec();
    anyhow::ensure!(
        found == saved,
        "{data}: the {} gym reads it with the codec {found}, but {} was trained with \
         {saved}",
        spec.id,
        path.display()
    );
    Ok((gym, split))
}

fn bits(nats: f64, n: u64) -> f64 {
    nats / n.max(1) as f64 / std::f64::consts::LN_2
}

fn row_json(r: &Row) -> serde_json::Value {
    let n = r.scored;
    serde_json::json!({
        "name": r.name,
        "tokens": n,
        "model_nats_per_token": r.model / n.max(1) as f64,
        "model_bits_per_token": bits(r.model, n),
        "unigram_bits_per_token": bits(r.unigram, n),
        "first_order_bits_per_token": bits(r.bigram, n),
        "lpc_bits_per_token": r.lpc.map(|l| bits(l, n)),
    })
}

fn print_table(rows: &[Row], total: &Row, audio: bool) {
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let lpc_head = if audio {
        format!(" {:>8}", "LPC")
    } else {
        String::new()
    };
    println!(
        "{:<width$} {:>10} {:>11} {:>10} {:>8} {:>11}{lpc_head}",
        "source", "tokens", "model nats", "model bits", "unigram", "first-order"
    );
    println!(
        "{:<width$} {:>10} {:>11} {:>10} {:>8} {:>11}{}",
        "",
        "",
        "/token",
        "/token",
        "bits",
        "bits",
        if audio {
            format!(" {:>8}", "bits")
        } else {
            String::new()
        }
    );
    for r in rows.iter().chain(std::iter::once(total)) {
        let n = r.scored;
        let lpc = r
            .lpc
            .map(|l| format!(" {:>8.3}", bits(l, n)))
            .unwrap_or_default();
        println!(
            "{:<width$} {:>10} {:>11.4} {:>10.4} {:>8.3} {:>11.3}{lpc}",
            r.name,
            n,
            r.model / n.max(1) as f64,
            bits(r.model, n),
            bits(r.unigram, n),
            bits(r.bigram, n),
        );
    }
}
