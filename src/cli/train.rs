//! `rnngym train`: train from a config, or resume a run directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rnngym_gyms::GymRegistry;
use rnngym_trainer::dist::{self, Collective, Watched};
use rnngym_trainer::{
    device, state, CheckpointKind, LogObserver, Observer, RunDir, Trainer, TrainerError,
};

use super::progress::{self, TrainProgress};
use super::ConfigArgs;

/// Arguments of `rnngym train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    cfg: ConfigArgs,
    /// Resume the run in this checkpoint directory (or from this checkpoint file, writing into
    /// its folder); `--set checkpoint.dir=NEW` continues it in another folder instead.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
}

/// Trains until `train.iterations`, then prints where the checkpoints are. Under an MPI
/// launcher (`mpirun -np N`, a build with `--features mpi`) this process is one rank of a
/// data-parallel job; see docs/DISTRIBUTED.md.
pub fn run(a: TrainArgs, registry: &GymRegistry) -> anyhow::Result<()> {
    let session = super::distributed::join()?;
    let comm = session.comm();
    let outcome = match prepare(a, registry, comm.as_ref()) {
        Err(e) => Err(super::distributed::agree::<()>(comm.as_ref(), Err(e)).unwrap_err()),
        Ok((cfg, gym, resume, dev)) => match dev {
            device::Device::Cpu(be) => train_with(be, cfg, gym, resume, &comm),
            device::Device::Cuda(be) => train_with(*be, cfg, gym, resume, &comm),
        },
    };
    if let Ok(Outcome::Interrupted(message)) = &outcome {
        if let Some(m) = message {
            eprintln!("{m}");
        }
        // mpirun ends the job at the first rank that exits non-zero: no rank leaves before
        // rank 0 has said where the checkpoint is (every rank stopped at the same iteration,
        // so all of them are here).
        if comm.world() > 1 {
            let _ = comm.barrier();
        }
    }
    // Every rank is past its last collective: MPI can be finalised.
    super::distributed::leave(session);
    match outcome? {
        Outcome::Done => Ok(()),
        Outcome::Interrupted(_) => std::process::exit(130),
    }
}

/// How training ended without an error.
enum Outcome {
    /// `train.iterations` reached.
    Done,
    /// Stopped by a signal; what to tell the user (rank 0 only).
    Interrupted(Option<String>),
}

/// The resolved config, its gym, the checkpoint to resume and the device: what every rank
/// sets up before the trainer.
type Prepared = (
    rnngym_trainer::Config,
    Box<dyn rnngym_gyms::Gym>,
    Option<PathBuf>,
    device::Device,
);

/// Resolves the config (the checkpoint's own when resuming without `--config`), makes the
/// gym and picks the device.
fn prepare(
    a: TrainArgs,
    registry: &GymRegistry,
    comm: &dyn Collective,
) -> anyhow::Result<Prepared> {
    let resume = a.resume.as_deref().map(resume_file).transpose()?;
    let mut cfg = match (&a.cfg.config, &resume) {
        (None, Some(ckpt)) => {
            // No config given: continue with the checkpoint's own, plus any --set.
            let mut saved = state::read_saved(ckpt)?.config;
            for s in &a.cfg.sets {
                saved.apply_override(s)?;
            }
            saved.validate()?;
            saved
        }
        _ => a.cfg.load()?,
    };
    if let (Some(given), Some(file)) = (&a.resume, &resume) {
        // The run directory is the one the user named: an explicit `--set checkpoint.dir=…`
        // (which forks the run into that folder), else the folder of `--resume` — never the
        // path saved in the checkpoint, which may be another run's (a copied run directory).
        let explicit = a.cfg.sets.iter().any(|s| {
            s.split_once('=')
                .is_some_and(|(key, _)| key.trim() == "checkpoint.dir")
        });
        if !explicit {
            cfg.checkpoint.dir = resume_folder(given, file).display().to_string();
        }
    }
    absolutize_gym_path(&mut cfg);
    log::info!("resolved config:\n{}", cfg.to_toml_string().trim_end());
    let loading = Instant::now();
    let gym = registry.make(&cfg.gym)?;
    log::info!(
        "gym {} ready in {:.2}s",
        cfg.gym.id,
        loading.elapsed().as_secs_f64()
    );
    // Each rank of a node takes a GPU of its own (see docs/DISTRIBUTED.md).
    let local = (comm.world() > 1).then(|| dist::launcher_local_rank().unwrap_or(0));
    let dev = device::select_for_rank(&cfg, local)?;
    Ok((cfg, gym, resume, dev))
}

/// `comm` under a watchdog of `train.collective_timeout_s` (data-parallel runs only): a rank
/// that waits that long in one collective says so in one line and exits, and the launcher
/// then ends every rank (a hung rank would otherwise keep the job waiting forever).
fn watched(comm: &Arc<dyn Collective>, cfg: &rnngym_trainer::Config) -> Arc<dyn Collective> {
    let limit = cfg.train.collective_timeout_s;
    if comm.world() == 1 || limit <= 0.0 {
        return comm.clone();
    }
    let rank = comm.rank();
    let on_timeout = move |what: &str, waited: Duration| {
        eprintln!(
            "error: rank {rank} waited {:.0} s in {what} for the other ranks \
             (train.collective_timeout_s = {limit}): another rank stopped responding (hung, \
             stopped, or its node lost); ending the job, the last checkpoint is kept",
            waited.as_secs_f64()
        );
        std::process::exit(1);
    };
    let limit = Duration::from_secs_f64(limit);
    Arc::new(Watched::new(comm.clone(), limit, on_timeout))
}

/// The rest of `run` on the chosen backend (the model code is generic over it).
fn train_with<B: rnngym_kernels::Backend>(
    be: B,
    cfg: rnngym_trainer::Config,
    gym: Box<dyn rnngym_gyms::Gym>,
    resume: Option<PathBuf>,
    comm: &Arc<dyn Collective>,
) -> anyhow::Result<Outcome> {
    let comm = &watched(comm, &cfg);
    let root = comm.rank() == 0;
    let setup = || -> anyhow::Result<Trainer<B>> {
        let c = comm.clone();
        let mut trainer = match &resume {
            Some(ckpt) => Trainer::resume_with_collective(be, cfg.clone(), gym, ckpt, c)?,
            None => Trainer::with_collective(be, cfg.clone(), gym, c)?,
        };
        if root {
            // The lock, config.toml, metrics.jsonl and samples: held until the trainer is
            // dropped. Rank 0 owns the run directory; the other ranks write nothing.
            trainer.attach_run_dir()?;
            for o in observers(&cfg) {
                trainer.add_observer(o);
            }
        }
        Ok(trainer)
    };
    let mut trainer = super::distributed::agree(comm.as_ref(), setup())?;
    if root {
        describe(&trainer, &cfg);
    }
    trainer.set_stop_flag(super::interrupt_flag(
        "stopping at the next safe point with a checkpoint",
    ));
    let dir = Path::new(&cfg.checkpoint.dir);
    let remaining = cfg.train.iterations.saturating_sub(trainer.iteration());
    if remaining == 0 {
        log::info!(
            "already trained {} iterations (train.iterations = {}); nothing to do",
            trainer.iteration(),
            cfg.train.iterations
        );
        return Ok(Outcome::Done);
    }
    if resume.is_some() {
        log::info!("resuming at iteration {}", trainer.iteration());
    }
    let started = Instant::now();
    let loss = match trainer.train(remaining) {
        Err(TrainerError::Interrupted { iteration, .. }) => {
            drop(trainer);
            let message = root.then(|| {
                format!(
                    "interrupted after iteration {iteration}; checkpoint saved in {}; resume with: rnngym train --resume {}",
                    RunDir::new(dir).latest().display(),
                    shell_quoted(&dir.display().to_string())
                )
            });
            return Ok(Outcome::Interrupted(message));
        }
        Err(e) if comm.world() > 1 => super::distributed::abort_job(comm, e.into()),
        other => other?,
    };
    let best = trainer
        .best_val_loss()
        .map(|b| format!("{b:.4} nats ({:.3} bits)/token", b / std::f64::consts::LN_2))
        .unwrap_or_else(|| "n/a".into());
    let rss = super::peak_rss_kb()
        .map(|kb| format!("; peak RSS {:.1} MB", kb as f64 / 1024.0))
        .unwrap_or_default();
    log::info!(
        "done: {} iterations in {:.1}s; final train loss {loss:.4}; best validation loss \
         {best}{rss}",
        trainer.iteration(),
        started.elapsed().as_secs_f64()
    );
    log::info!(
        "checkpoints in {}/ ({}, {})",
        dir.display(),
        CheckpointKind::Latest.file_name(),
        CheckpointKind::Best.file_name()
    );
    Ok(Outcome::Done)
}

/// Logs the model, the device and, on several processes, how the batch is split.
fn describe<B: rnngym_kernels::Backend>(trainer: &Trainer<B>, cfg: &rnngym_trainer::Config) {
    let dims = trainer.model().dims;
    let features = match &cfg.model.features {
        Some(f) => format!(
            ", {} input feature channels ({})",
            dims.channels - 1,
            f.kind()
        ),
        None => String::new(),
    };
    log::info!(
        "model: {:?} {}×{} (embed {}, vocab {}{features}), {} parameters; device {}",
        dims.cell,
        dims.layers,
        dims.hidden,
        dims.embed,
        dims.vocab,
        trainer.model().total,
        rnngym_kernels::Backend::name(trainer.backend())
    );
    let (_, world) = trainer.rank_and_world();
    if world > 1 {
        log::info!(
            "data parallel: {world} processes, {} of the {} lanes of train.batch each",
            cfg.train.batch / world,
            cfg.train.batch
        );
    }
    if trainer.codec().audio().is_some() && cfg.train.sample_every > 0 {
        log::warn!(
            "train.sample_every = {} is for text gyms; audio gyms write a {} s WAV to \
             samples/ at each checkpoint instead (sample.train_seconds)",
            cfg.train.sample_every,
            cfg.sample.train_seconds
        );
    }
}

/// A progress bar on a terminal, or periodic log lines elsewhere.
fn observers(cfg: &rnngym_trainer::Config) -> Vec<Box<dyn Observer>> {
    let every = cfg.train.log_every;
    let mut v: Vec<Box<dyn Observer>> = Vec::new();
    if progress::bars_enabled() {
        v.push(Box::new(TrainProgress::new()));
        v.push(Box::new(LogObserver::without_iterations()));
    } else {
        v.push(Box::new(LogObserver::new(every)));
    }
    v
}

/// `s` as one POSIX shell word: as is when it holds only characters the shell leaves alone,
/// else in single quotes (a `'` inside written as `'\''`), so a printed command can be pasted.
fn shell_quoted(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:,+@%=".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The run directory of `--resume given` (resolved to `file`): the directory itself, or the
/// folder holding the checkpoint file.
fn resume_folder(given: &Path, file: &Path) -> PathBuf {
    if given.is_dir() {
        return given.to_path_buf();
    }
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `--resume DIR` means `DIR/latest.safetensors`; a file is taken as is.
fn resume_file(p: &Path) -> anyhow::Result<PathBuf> {
    let f = if p.is_dir() {
        RunDir::new(p).latest()
    } else {
        p.to_path_buf()
    };
    anyhow::ensure!(
        f.is_file(),
        "--resume {}: no checkpoint found at {}",
        p.display(),
        f.display()
    );
    Ok(f)
}

/// Resolves the relative `[gym]` paths from the config file (`gym.path` and the path options)
/// against its folder, so the config saved in checkpoints still finds the data when resumed
/// from another working directory.
fn absolutize_gym_path(cfg: &mut rnngym_trainer::Config) {
    let base = cfg.gym.base_dir.clone();
    let resolve = |p: &mut String| {
        // An empty path stays empty, for the gym to refuse (joined, it would name the folder).
        if !p.trim().is_empty()
            && Path::new(p.as_str()).is_relative()
            && !base.as_os_str().is_empty()
        {
            let joined = base.join(p.as_str());
            *p = std::path::absolute(&joined)
                .unwrap_or(joined)
                .display()
                .to_string();
        }
    };
    if let Some(p) = cfg.gym.path.as_mut() {
        resolve(p);
    }
    // A process gym runs in the config's folder: pin it, for a resume without --config.
    if cfg.gym.id == rnngym_gyms::process::ID && !base.as_os_str().is_empty() {
        cfg.gym
            .options
            .entry("cwd")
            .or_insert_with(|| toml::Value::String(".".into()));
    }
    for key in rnngym_gyms::GymSpec::PATH_OPTIONS {
        if let Some(toml::Value::String(p)) = cfg.gym.options.get_mut(key) {
            resolve(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quoted;

    #[test]
    fn resume_hints_paste_into_a_shell() {
        assert_eq!(shell_quoted("runs/tiny-1"), "runs/tiny-1");
        assert_eq!(shell_quoted("my runs/a"), "'my runs/a'");
        assert_eq!(shell_quoted("it's"), "'it'\\''s'");
        assert_eq!(shell_quoted("$(rm -rf x)"), "'$(rm -rf x)'");
        assert_eq!(shell_quoted(""), "''");
    }
}
