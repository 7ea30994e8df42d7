//! `rnngym plot`: a run's training / validation loss curves (PNG or SVG), or a WAV file's
//! spectrogram (PNG). Text uses an embedded DejaVu Sans, so no system fonts are needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use rnngym_trainer::observers::read_jsonl;
use rnngym_trainer::RunDir;

/// DejaVu Sans (Bitstream Vera licence, assets/fonts/LICENSE), registered as "sans-serif".
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Arguments of `rnngym plot`.
#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// Run directory holding metrics.jsonl (written by `rnngym train`).
    #[arg(
        value_name = "RUN_DIR",
        required_unless_present = "spectrogram",
        conflicts_with = "spectrogram"
    )]
    run_dir: Option<PathBuf>,
    /// Draw this WAV file's spectrogram instead of loss curves.
    #[arg(long, value_name = "WAV")]
    spectrogram: Option<PathBuf>,
    /// Output file, .png or .svg [default: RUN_DIR/loss.png, or the WAV's name with .png].
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1000)]
    width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 600)]
    height: u32,
}

/// Draws the requested plot and prints where it went.
pub fn run(a: PlotArgs) -> anyhow::Result<()> {
    register_font();
    anyhow::ensure!(
        (64..=10000).contains(&a.width) && (64..=10000).contains(&a.height),
        "--width/--height: expected 64 to 10000 pixels, got {}x{}",
        a.width,
        a.height
    );
    let size = (a.width, a.height);
    let out = match (&a.spectrogram, &a.run_dir) {
        (Some(wav), _) => {
            let out = a.out.unwrap_or_else(|| wav.with_extension("png"));
            anyhow::ensure!(
                ext(&out) == "png",
                "--out {}: spectrograms are written as .png",
                out.display()
            );
            rnngym_trainer::output::check(&out).context("--out")?;
            let spec = super::spectrogram::compute(wav)?;
            let title = file_name(wav);
            let root = BitMapBackend::new(&out, size).into_drawing_area();
            super::spectrogram::draw(root, &spec, &title)?;
            out
        }
        (None, Some(dir)) => {
            let out = a.out.unwrap_or_else(|| dir.join("loss.png"));
            rnngym_trainer::output::check(&out).context("--out")?;
            let curves = Curves::load(dir)?;
            let title = format!("{}: loss", file_name(dir));
            match ext(&out).as_str() {
                "png" => draw_loss(
                    BitMapBackend::new(&out, size).into_drawing_area(),
                    &curves,
                    &title,
                )?,
                "svg" => draw_loss(
                    SVGBackend::new(&out, size).into_drawing_area(),
                    &curves,
                    &title,
                )?,
                other => anyhow::bail!(
                    "--out {}: expected a .png or .svg file name, got {other:?}",
                    out.display()
                ),
            }
            out
        }
        (None, None) => anyhow::bail!("give a RUN_DIR or --spectrogram WAV"),
    };
    println!("wrote {}", out.display());
    Ok(())
}

/// Registers the embedded font once.
pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            log::warn!("the embedded font did not load; plots will have no text");
        }
    });
}

fn ext(p: &Path) -> String {
    p.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

fn file_name(p: &Path) -> String {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    abs.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Training and validation losses against iterations, from metrics.jsonl.
struct Curves {
    train: Vec<(f64, f64)>,
    val: Vec<(f64, f64)>,
}

impl Curves {
    fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = RunDir::new(dir).metrics();
        let records = read_jsonl(&path).with_context(|| {
            format!(
                "{}: cannot read (it is written by `rnngym train`)",
                path.display()
            )
        })?;
        let mut c = Curves {
            train: Vec::new(),
            val: Vec::new(),
        };
        for r in &records {
            let it = r.get("iteration").and_then(|v| v.as_f64());
            let (kind, key) = match r.get("kind").and_then(|k| k.as_str()) {
                Some("train") => (&mut c.train, "loss"),
                Some("val") => (&mut c.val, "val_loss"),
                _ => continue,
            };
            if let (Some(it), Some(y)) = (it, r.get(key).and_then(|v| v.as_f64())) {
                if y.is_finite() {
                    kind.push((it, y));
                }
            }
        }
        anyhow::ensure!(
            !c.train.is_empty() || !c.val.is_empty(),
            "{}: no loss records to plot",
            path.display()
        );
        Ok(c)
    }
}

/// Draws both curves, nats on the left axis and bits/token on the right.
fn draw_loss<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    c: &Curves,
    title: &str,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let all = c.train.iter().chain(&c.val);
    let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max);
    let lo = all.clone().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = all.map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.05).max(0.01);
    let (y0, y1) = ((lo - pad).max(0.0), hi + pad);
    let ln2 = std::f64::consts::LN_2;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, y0..y1)?
        .set_secondary_coord(0.0..x_max, y0 / ln2..y1 / ln2);
    chart
        .configure_mesh()
        .x_desc("iteration")
        .y_desc("loss (nats/token)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("bits/token")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    if !c.train.is_empty() {
        chart
            .draw_series(LineSeries::new(
                c.train.iter().copied(),
                blue.stroke_width(2),
            ))?
            .label("train")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], blue.stroke_width(2)));
    }
    if !c.val.is_empty() {
        chart
            .draw_series(LineSeries::new(
                c.val.iter().copied(),
                orange.stroke_width(2),
            ))?
            .label("validation")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], orange.stroke_width(2)));
        chart.draw_series(c.val.iter().map(|&p| Circle::new(p, 4, orange.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 15))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Maps a value in [0, 1] to the viridis colour map.
pub fn viridis(v: f64) -> RGBColor {
    ViridisRGB::get_color(v.clamp(0.0, 1.0))
}
