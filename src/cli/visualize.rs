//! `rnngym visualize`: one self-contained HTML page (no network) showing a text coloured by a
//! chosen neuron's activation, the model's top-5 next-token predictions on hover, and the
//! neurons that correlate most with simple features — after "The Unreasonable Effectiveness
//! of Recurrent Neural Networks".

use std::path::PathBuf;

use anyhow::Context;
use rnngym_gyms::{GymRegistry, UnknownPolicy};
use rnngym_kernels::CpuBackend;
use rnngym_trainer::state;
use serde_json::json;

use super::viz_data::{self, Features};

/// The page template; `/*VIZ_DATA*/` is replaced by the data as JSON.
static TEMPLATE: &str = include_str!("viz_page.html");

/// Arguments of `rnngym visualize`.
#[derive(clap::Args, Debug)]
pub struct VisualizeArgs {
    /// Checkpoint file, or a run directory (best.safetensors, else latest.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Text file to run the model over.
    #[arg(long, required_unless_present = "prime", conflicts_with = "prime")]
    text: Option<PathBuf>,
    /// Text to run the model over, given inline.
    #[arg(long)]
    prime: Option<String>,
    /// Layer shown first (0-based; the page can switch) [default: that of the neuron shown].
    #[arg(long)]
    layer: Option<usize>,
    /// Neuron shown first [default: the one most correlated with a feature].
    #[arg(long)]
    neuron: Option<usize>,
    /// Which state to show: the LSTM cell state as tanh(c), or the hidden output h
    /// [default: c for LSTM, h for GRU / RNN].
    #[arg(long, value_enum)]
    state: Option<StateKind>,
    /// Use at most this many characters (tokens) of the text.
    #[arg(long, default_value_t = 2000)]
    max_chars: usize,
    /// Output HTML file.
    #[arg(long, short, default_value = "viz.html")]
    out: PathBuf,
}

/// The recurrent state to colour by.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// Hidden output h (every cell).
    H,
    /// Cell state c, shown as tanh(c) (LSTM only).
    C,
}

/// Runs the checkpoint over the text and writes the page.
pub fn run(a: VisualizeArgs, registry: &GymRegistry) -> anyhow::Result<()> {
    rnngym_trainer::output::check(&a.out).context("--out")?;
    let path = super::sample::checkpoint_file(&a.checkpoint)?;
    let be = CpuBackend::new(1);
    let (model, loaded) = state::load_model_with(&be, &path, registry.codecs())?;
    let dims = model.dims;
    let kind = match a.state {
        Some(k) => k,
        None if dims.cell.has_cell_state() => StateKind::C,
        None => StateKind::H,
    };
    anyhow::ensure!(
        kind == StateKind::H || dims.cell.has_cell_state(),
        "--state c: only LSTM cells have a cell state (this model is {:?}); use --state h",
        dims.cell
    );
    if let Some(l) = a.layer {
        anyhow::ensure!(
            l < dims.layers,
            "--layer {l}: the model has layers 0 to {}",
            dims.layers - 1
        );
    }
    if let Some(n) = a.neuron {
        anyhow::ensure!(
            n < dims.hidden,
            "--neuron {n}: the model has neurons 0 to {}",
            dims.hidden - 1
        );
    }
    let text = match (&a.text, &a.prime) {
        (Some(f), _) => rnngym_trainer::fsutil::read_text(f, super::sample::MAX_TEXT_BYTES)
            .with_context(|| format!("--text {}: cannot read as UTF-8 text", f.display()))?,
        (None, Some(p)) => p.clone(),
        (None, None) => anyhow::bail!("give --text FILE or --prime TEXT"),
    };
    let codec = loaded.codec.clone();
    let mut tokens = codec.encode(&text, UnknownPolicy::Skip)?;
    tokens.truncate(a.max_chars);
    anyhow::ensure!(
        !tokens.is_empty(),
        "the text has no characters in the model's vocabulary"
    );
    let run = viz_data::trace(&be, &model, &tokens, kind == StateKind::C)?;
    let chars: Vec<String> = tokens.iter().map(|&t| codec.render(&[t])).collect();
    let features = Features::of(&chars);
    let correlations = viz_data::correlations(&run, &features, dims.layers, dims.hidden, 8);
    let (layer, neuron) = match a.neuron {
        Some(n) => (a.layer.unwrap_or(0), n),
        None => correlations
            .iter()
            .filter(|c| a.layer.is_none_or(|l| c.layer == l))
            .max_by(|x, y| x.r.abs().total_cmp(&y.r.abs()))
            .map_or((a.layer.unwrap_or(0), 0), |c| (c.layer, c.neuron)),
    };
    let vocab: Vec<String> = (0..dims.vocab as u32).map(|t| codec.render(&[t])).collect();
    let state_name = match kind {
        StateKind::C => "LSTM cell state c, shown as tanh(c)",
        StateKind::H => "hidden state h",
    };
    let data = json!({
        "title": format!("{}", path.display()),
        "cell": format!("{:?}", dims.cell).to_lowercase(),
        "state": state_name,
        "layers": dims.layers,
        "hidden": dims.hidden,
        "layer": layer,
        "neuron": neuron,
        "chars": chars,
        "vocab": vocab,
        "acts": run.acts_base64(),
        "top": run.top,
        "correlations": correlations,
        "features": Features::DESCRIPTIONS,
    });
    let json_text = data.to_string().replace("</", "<\\/");
    let page = TEMPLATE.replace("/*VIZ_DATA*/", &json_text);
    rnngym_trainer::fsutil::atomic_write(&a.out, page.as_bytes())
        .with_context(|| format!("--out {}: cannot write", a.out.display()))?;
    println!(
        "wrote {} ({} characters, {} layers × {} neurons of the {state_name})",
        a.out.display(),
        tokens.len(),
        dims.layers,
        dims.hidden
    );
    Ok(())
}
