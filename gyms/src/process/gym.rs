//! `ProcessGym`: a gym served by a child process over the `process-v1` protocol. The parent
//! keeps the episode bookkeeping (a `step` without a live episode never reaches the child),
//! checks every window against the shape asked for and the declared vocabulary, and with
//! `prefetch` asks for the next window as soon as one arrives.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::child::Launch;
use super::link::{unexpected, Doing, Fault, Link, Setup};
use super::options::ProcessOptions;
use super::protocol::{self, Frame, Tag, FAIL_TOO_SMALL};
use super::ID;
use crate::{
    codec_from_spec, Codec, EpisodeInfo, Gym, GymError, GymSpec, Shape, Split, Step, WindowError,
};

/// A gym running as a child process (`process-v1`); see docs/GYM_PROTOCOL.md.
pub struct ProcessGym {
    link: Link,
    codec: Arc<dyn Codec>,
    /// The codec spec the first child declared; a fork's child must declare the same.
    declared: Arc<Value>,
    prefetch: bool,
    episode: Option<Episode>,
    /// A `STEP` has been sent whose reply is not read yet (the request, for messages).
    prefetched: Option<Doing>,
}

/// The episode under way.
#[derive(Clone, Copy, Debug)]
struct Episode {
    split: Split,
    shape: Shape,
    /// Windows served so far.
    served: usize,
}

impl ProcessGym {
    /// Starts the child named by `gym.options.command` (in the config file's folder) and
    /// shakes hands with it; the codec is the one the child declares.
    pub fn from_spec(spec: &GymSpec) -> Result<ProcessGym, GymError> {
        let options = ProcessOptions::from_table(&spec.options)?;
        let base = (!spec.base_dir.as_os_str().is_empty()).then(|| spec.base_dir.clone());
        let cwd = match (&options.cwd, base) {
            (Some(dir), Some(base)) => Some(base.join(dir)),
            (Some(dir), None) => Some(PathBuf::from(dir)),
            (None, base) => base,
        };
        let launch = Launch {
            program: resolve_program(&options.command[0], cwd.as_deref()),
            args: options.command[1..].to_vec(),
            env: options.env.clone().into_iter().collect(),
            cwd,
        };
        let setup = Setup {
            command: options.command_line(),
            launch,
            hello: protocol::hello(spec.path.as_deref(), spec.val_fraction, &options.config),
            timeout: options.timeout,
        };
        let mut link = Link::new(Arc::new(setup));
        let hello = link.start()?;
        // The one place a child's codec is built.
        let codec = codec_from_spec(&hello.codec).map_err(|e| {
            link.fail(
                Doing::Handshake,
                Fault::Protocol(format!("declared a codec rnngym cannot build ({e})")),
            )
        })?;
        if codec.vocab_size() > u32::MAX as usize {
            return Err(link.fail(
                Doing::Handshake,
                Fault::Protocol("declared more than 2^32 tokens".into()),
            ));
        }
        Ok(ProcessGym {
            link,
            codec,
            declared: Arc::new(hello.codec),
            prefetch: options.prefetch,
            episode: None,
            prefetched: None,
        })
    }

    /// [`ProcessGym::from_spec`], boxed for the registry.
    pub fn from_spec_boxed(spec: &GymSpec) -> Result<Box<dyn Gym>, GymError> {
        Ok(Box::new(Self::from_spec(spec)?))
    }

    /// Starts a fork's child on first use; it must declare the first child's codec.
    fn ensure_started(&mut self) -> Result<(), GymError> {
        if self.link.started() {
            return Ok(());
        }
        let hello = self.link.start()?;
        if hello.codec != *self.declared {
            return Err(self.link.fail(
                Doing::Handshake,
                Fault::Protocol(format!(
                    "declared codec {} in a second child (a fork, for validation); the first \
                     declared {}: a gym must declare the same codec every time it starts",
                    hello.codec, self.declared
                )),
            ));
        }
        Ok(())
    }

    /// Reads and drops the reply to a prefetched `STEP` that is no longer wanted.
    fn drain_prefetch(&mut self) -> Result<(), GymError> {
        if let Some(doing) = self.prefetched.take() {
            self.link.recv(doing)?;
        }
        Ok(())
    }

    /// A `FAIL` reply: the gym's own error (a window too small for the split, or another).
    fn refused(&mut self, doing: Doing, f: &Frame, shape: Shape) -> GymError {
        let (code, text) = match protocol::parse_fail(&f.payload) {
            Ok(v) => v,
            Err(e) => return self.link.fail(doing, Fault::Protocol(e.0)),
        };
        let command = &self.link.setup().command;
        if code == FAIL_TOO_SMALL {
            return WindowError::TooSmall {
                message: format!("{ID} gym '{command}': {text}"),
                batch: shape.batch,
                seq: shape.seq,
            }
            .into();
        }
        GymError::Data(format!("{ID} gym '{command}': {doing} failed: {text}"))
    }
}

/// A relative program path with a `/` in it names a file beside the config (where the child
/// also runs); a bare name is looked up on `PATH`.
fn resolve_program(program: &str, cwd: Option<&Path>) -> PathBuf {
    let p = Path::new(program);
    match cwd {
        Some(dir) if p.is_relative() && program.contains('/') => dir.join(p),
        _ => p.to_path_buf(),
    }
}

impl Gym for ProcessGym {
    fn id(&self) -> &str {
        ID
    }

    fn codec(&self) -> Arc<dyn Codec> {
        self.codec.clone()
    }

    fn reset(&mut self, split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
        self.episode = None;
        shape.check()?;
        shape.tokens()?;
        let payload = protocol::reset(split, seed, shape).map_err(|_| WindowError::Overflow {
            batch: shape.batch,
            seq: shape.seq,
        })?;
        self.ensure_started()?;
        self.drain_prefetch()?;
        let doing = Doing::Reset { split, seed, shape };
        self.link.send(Tag::Reset, &payload, doing)?;
        let f = self.link.recv(doing)?;
        match f.tag {
            Tag::Info => {
                let info = protocol::parse_info(&f.payload)
                    .map_err(|e| self.link.fail(doing, Fault::Protocol(e.0)))?;
                self.episode = Some(Episode {
                    split,
                    shape,
                    served: 0,
                });
                Ok(info)
            }
            Tag::Fail => Err(self.refused(doing, &f, shape)),
            other => Err(self.link.fail(doing, unexpected(other, Tag::Info))),
        }
    }

    fn step(&mut self) -> Result<Step, GymError> {
        let Some(mut ep) = self.episode.take() else {
            return Err(GymError::Contract(
                "step() called before reset() or after the episode ended".into(),
            ));
        };
        let doing = Doing::Step {
            split: ep.split,
            window: ep.served + 1,
        };
        if self.prefetched.take().is_none() {
            self.link.send(Tag::Step, &[], doing)?;
        }
        let f = self.link.recv(doing)?;
        let step = match f.tag {
            Tag::Window => protocol::parse_window(&f.payload, ep.shape, self.codec.vocab_size())
                .map_err(|e| self.link.fail(doing, Fault::Protocol(e.0)))?,
            Tag::Fail => return Err(self.refused(doing, &f, ep.shape)),
            other => return Err(self.link.fail(doing, unexpected(other, Tag::Window))),
        };
        if !step.episode_done {
            ep.served += 1;
            let next = Doing::Step {
                split: ep.split,
                window: ep.served + 1,
            };
            // A failed send is remembered by the link and reported by the next call, which is
            // the one that needs the window.
            if self.prefetch && self.link.send(Tag::Step, &[], next).is_ok() {
                self.prefetched = Some(next);
            }
            self.episode = Some(ep);
        }
        Ok(step)
    }

    /// A second child with the same command, started on first use, so validation runs beside
    /// training without replaying its stream.
    fn fork(&self) -> Option<Box<dyn Gym>> {
        Some(Box::new(ProcessGym {
            link: Link::new(self.link.setup()),
            codec: self.codec.clone(),
            declared: self.declared.clone(),
            prefetch: self.prefetch,
            episode: None,
            prefetched: None,
        }))
    }
}
