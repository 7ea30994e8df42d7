//! `Link`: one conversation with a child, and what ends it. A fault (the child exits, hangs
//! past the timeout, or breaks the protocol) stops the child at once and is remembered: every
//! later request gets the same one-line message, which names what was being asked, what
//! went wrong, and what the child last wrote to stderr.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::child::{Child, Launch, Reply};
use super::protocol::{self, ChildHello, Frame, Tag};
use super::ID;
use crate::{GymError, Shape, Split};

/// How long a child that closed its stdout may take to exit (for its exit status).
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How long a child that broke the protocol may take to exit (it may be crashing).
const FAULT_GRACE: Duration = Duration::from_millis(100);
/// How long to look for what a child that stopped reading wrote before it did.
const PEEK: Duration = Duration::from_millis(200);

/// What every child of one configured gym (the first and its forks) is started with.
#[derive(Debug)]
pub(crate) struct Setup {
    /// The command line, for messages.
    pub command: String,
    /// How each child is started.
    pub launch: Launch,
    /// The trainer's `HELO` payload.
    pub hello: Vec<u8>,
    /// `gym.options.timeout_s`.
    pub timeout: Duration,
}

/// The request a reply is awaited for, as messages name it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Doing {
    Handshake,
    Reset {
        split: Split,
        seed: u64,
        shape: Shape,
    },
    /// `window` counts from 1.
    Step {
        split: Split,
        window: usize,
    },
}

fn split_name(s: Split) -> &'static str {
    match s {
        Split::Train => "train",
        Split::Val => "validation",
    }
}

impl fmt::Display for Doing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Doing::Handshake => write!(f, "handshake"),
            Doing::Reset { split, seed, shape } => write!(
                f,
                "reset({}, seed {seed}, {} lanes × {} steps)",
                split_name(split),
                shape.batch,
                shape.seq
            ),
            Doing::Step { split, window } => {
                write!(
                    f,
                    "step (window {window} of the {} episode)",
                    split_name(split)
                )
            }
        }
    }
}

/// What ended a conversation.
pub(crate) enum Fault {
    /// Stdout closed or stdin broken: the child is gone or going.
    Gone,
    /// No reply within the timeout.
    Timeout,
    /// The child sent something the protocol does not allow (a verb phrase: "sent …").
    Protocol(String),
}

/// A conversation with one child: not started yet (a fork), running, or ended by a fault.
pub(crate) struct Link {
    setup: Arc<Setup>,
    child: Option<Child>,
    /// The fault that ended it, as the message every later call repeats.
    broken: Option<String>,
}

impl Link {
    /// A link whose child starts with [`Link::start`].
    pub fn new(setup: Arc<Setup>) -> Link {
        Link {
            setup,
            child: None,
            broken: None,
        }
    }

    /// What its children are started with.
    pub fn setup(&self) -> Arc<Setup> {
        self.setup.clone()
    }

    /// Whether a child is running (or has run and broken).
    pub fn started(&self) -> bool {
        self.child.is_some() || self.broken.is_some()
    }

    /// Starts the child and shakes hands: the trainer's `HELO`, then the gym's.
    pub fn start(&mut self) -> Result<ChildHello, GymError> {
        let doing = Doing::Handshake;
        match Child::spawn(&self.setup.launch) {
            Ok(c) => self.child = Some(c),
            Err(e) => {
                let launch = &self.setup.launch;
                let cwd = match &launch.cwd {
                    Some(d) => format!(
                        " in {}",
                        std::path::absolute(d).unwrap_or(d.clone()).display()
                    ),
                    None => String::new(),
                };
                let on_path = launch.program.components().count() == 1;
                let hint = match e.kind() {
                    std::io::ErrorKind::NotFound if on_path => "; is it installed and on PATH?",
                    _ => "",
                };
                let msg = format!(
                    "cannot start {}{cwd} (gym.options.command): {e}{hint}",
                    launch.program.display()
                );
                self.broken = Some(msg.clone());
                return Err(self.error(msg));
            }
        }
        let hello = self.setup.hello.clone();
        self.send(Tag::Hello, &hello, doing)?;
        let f = self.recv(doing)?;
        match f.tag {
            Tag::Hello => protocol::parse_hello(&f.payload)
                .map_err(|e| self.fail(doing, Fault::Protocol(e.0))),
            Tag::Fail => {
                let text = match protocol::parse_fail(&f.payload) {
                    Ok((_, text)) => text,
                    Err(e) => return Err(self.fail(doing, Fault::Protocol(e.0))),
                };
                let msg = format!("the gym refused to start: {text}");
                self.stop();
                self.broken = Some(msg.clone());
                Err(GymError::Config(format!(
                    "{ID} gym '{}': {msg}",
                    self.setup.command
                )))
            }
            other => Err(self.fail(doing, unexpected(other, Tag::Hello))),
        }
    }

    /// Sends one request.
    pub fn send(&mut self, tag: Tag, payload: &[u8], doing: Doing) -> Result<(), GymError> {
        let child = self.running()?;
        if child.send(tag, payload).is_ok() {
            return Ok(());
        }
        // It stopped reading: if it wrote something that is not a frame first (a program that
        // does not speak the protocol), that is the better diagnosis.
        let fault = match child.recv(PEEK) {
            Reply::Broken(e) => Fault::Protocol(e.0),
            _ => Fault::Gone,
        };
        Err(self.fail(doing, fault))
    }

    /// Waits for the reply to `doing`.
    pub fn recv(&mut self, doing: Doing) -> Result<Frame, GymError> {
        let timeout = self.setup.timeout;
        let fault = match self.running()?.recv(timeout) {
            Reply::Frame(f) => return Ok(f),
            Reply::End => Fault::Gone,
            Reply::Broken(e) => Fault::Protocol(e.0),
            Reply::Timeout => Fault::Timeout,
        };
        Err(self.fail(doing, fault))
    }

    /// Ends the conversation over `fault` (stopping the child) and returns its error.
    pub fn fail(&mut self, doing: Doing, fault: Fault) -> GymError {
        let grace = match fault {
            Fault::Gone => EXIT_GRACE,
            Fault::Timeout => Duration::ZERO,
            Fault::Protocol(_) => FAULT_GRACE,
        };
        let (ended, tail) = match self.child.take() {
            Some(mut c) => (c.stop(grace), c.stderr_tail()),
            None => (None, "it wrote nothing to stderr".into()),
        };
        let what = match (fault, ended) {
            (Fault::Gone, Some(how)) => format!("the child {how} before answering"),
            (Fault::Gone, None) => "the child closed its stdout, so it was killed".into(),
            (Fault::Timeout, _) => format!(
                "no reply within {} s (gym.options.timeout_s), so the child was killed",
                self.setup.timeout.as_secs_f64()
            ),
            (Fault::Protocol(m), Some(how)) => format!("the child {m}, then {how}"),
            (Fault::Protocol(m), None) => format!("the child {m}, so it was killed"),
        };
        let msg = format!("{doing}: {what}; {tail}");
        self.broken = Some(msg.clone());
        self.error(msg)
    }

    /// A [`GymError::Process`] with `message`.
    pub fn error(&self, message: String) -> GymError {
        GymError::Process {
            command: self.setup.command.clone(),
            message,
        }
    }

    /// The running child, or the error that ended it.
    fn running(&mut self) -> Result<&mut Child, GymError> {
        if let Some(msg) = &self.broken {
            return Err(self.error(msg.clone()));
        }
        match self.child.as_mut() {
            Some(c) => Ok(c),
            None => Err(GymError::Contract(format!(
                "{ID} gym '{}': used before its child was started",
                self.setup.command
            ))),
        }
    }

    /// Stops the child politely (it is not at fault).
    fn stop(&mut self) {
        drop(self.child.take());
    }
}

/// A reply of the wrong type.
pub(crate) fn unexpected(got: Tag, expected: Tag) -> Fault {
    Fault::Protocol(format!(
        "answered with a {} frame where a {} frame was due",
        got.name(),
        expected.name()
    ))
}
