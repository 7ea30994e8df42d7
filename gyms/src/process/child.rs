//! The child process of a `process-v1` gym: started in its own process group with a
//! parent-death signal, read by two threads (frames from stdout onto a channel, so that a
//! reply can be waited for with a timeout; stderr into a tail kept for error messages), and
//! never outliving its owner: `Drop` says goodbye, then kills the group and reaps the child.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::protocol::{self, Frame, ProtocolError, Tag};

/// Lines of stderr kept for error messages.
const TAIL_LINES: usize = 20;
/// Characters of one stderr line kept.
const LINE_CHARS: usize = 500;
/// Characters of stderr an error message quotes at most.
const QUOTED_CHARS: usize = 400;
/// How long a child may take to exit after `BYE!` before it is killed.
const BYE_GRACE: Duration = Duration::from_millis(200);
/// How long to wait for the stderr reader to drain what a dead child wrote.
const STDERR_DRAIN: Duration = Duration::from_millis(500);

/// How to start the child.
#[derive(Clone, Debug)]
pub(crate) struct Launch {
    /// The program, already resolved against `cwd` when it is a relative path with a `/`.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables added to its environment.
    pub env: Vec<(String, String)>,
    /// Its working directory (`None`: the trainer's).
    pub cwd: Option<PathBuf>,
}

/// What the stdout reader hands over.
enum Incoming {
    Frame(Frame),
    /// Stdout ended on a frame boundary.
    End,
    Broken(ProtocolError),
}

/// What waiting for a reply gave.
pub(crate) enum Reply {
    /// A well-formed frame.
    Frame(Frame),
    /// The child closed its stdout (it exited, most likely).
    End,
    /// The child broke the framing.
    Broken(ProtocolError),
    /// Nothing within the timeout.
    Timeout,
}

/// A running child and its pipes.
pub(crate) struct Child {
    proc: std::process::Child,
    stdin: Option<ChildStdin>,
    frames: Receiver<Incoming>,
    tail: Arc<Mutex<VecDeque<String>>>,
    /// Disconnected once the stderr reader has seen the end of stderr.
    stderr_done: Receiver<()>,
    reaped: bool,
}

impl Child {
    /// Starts the child with piped stdio and its readers.
    pub fn spawn(launch: &Launch) -> io::Result<Child> {
        let mut proc = spawn_on_keeper(launch.clone())?;
        let (stdout, stderr) = match (proc.stdout.take(), proc.stderr.take()) {
            (Some(o), Some(e)) => (o, e),
            _ => return Err(io::Error::other("the child's pipes are missing")),
        };
        let (tx, frames) = mpsc::channel();
        std::thread::Builder::new()
            .name("rnngym-gym-stdout".into())
            .spawn(move || read_frames(stdout, tx))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (done_tx, stderr_done) = mpsc::channel::<()>();
        let t = tail.clone();
        std::thread::Builder::new()
            .name("rnngym-gym-stderr".into())
            .spawn(move || {
                read_stderr(stderr, &t);
                drop(done_tx);
            })?;
        Ok(Child {
            stdin: proc.stdin.take(),
            proc,
            frames,
            tail,
            stderr_done,
            reaped: false,
        })
    }

    /// Writes one frame to the child's stdin.
    pub fn send(&mut self, tag: Tag, payload: &[u8]) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::BrokenPipe))?;
        stdin.write_all(&protocol::encode(tag, payload))?;
        stdin.flush()
    }

    /// The next frame, waiting at most `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Reply {
        match self.frames.recv_timeout(timeout) {
            Ok(Incoming::Frame(f)) => Reply::Frame(f),
            Ok(Incoming::End) | Err(RecvTimeoutError::Disconnected) => Reply::End,
            Ok(Incoming::Broken(e)) => Reply::Broken(e),
            Err(RecvTimeoutError::Timeout) => Reply::Timeout,
        }
    }

    /// Stops the child: waits up to `grace` for it to exit by itself, then kills its whole
    /// process group and reaps it. `Some(how it ended)` when it exited by itself, `None`
    /// when it had to be killed.
    pub fn stop(&mut self, grace: Duration) -> Option<String> {
        if self.reaped {
            return None;
        }
        drop(self.stdin.take()); // EOF: a well-behaved child exits on it
        let deadline = Instant::now() + grace;
        let mut ended = exited_unreaped(&mut self.proc);
        while ended.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
            ended = exited_unreaped(&mut self.proc);
        }
        // Its own helpers die with it; elsewhere than Linux an exited child is already reaped
        // and its id may be reused, so only a live one is killed there.
        if ended.is_none() || cfg!(target_os = "linux") {
            kill_group(&mut self.proc);
        }
        let _ = self.proc.wait();
        self.reaped = true;
        ended
    }

    /// The end of what the child wrote to stderr, as one line for an error message: `its
    /// stderr ended with: a | b | c`, or that it wrote nothing. Waits briefly for the
    /// reader to drain a child that has just died.
    pub fn stderr_tail(&self) -> String {
        let _ = self.stderr_done.recv_timeout(STDERR_DRAIN);
        let lines = self.tail.lock().map(|t| t.clone()).unwrap_or_default();
        quote_tail(&lines)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.send(Tag::Bye, &[]);
            self.stop(BYE_GRACE);
        }
    }
}

/// The last lines, newest last, joined with ` | ` and cut to [`QUOTED_CHARS`] from the end.
fn quote_tail(lines: &VecDeque<String>) -> String {
    let mut picked: Vec<&str> = Vec::new();
    let mut len = 0;
    for line in lines.iter().rev() {
        if !picked.is_empty() && len + line.chars().count() > QUOTED_CHARS {
            break;
        }
        len += line.chars().count() + 3;
        picked.push(line);
    }
    if picked.is_empty() {
        return "it wrote nothing to stderr".into();
    }
    picked.reverse();
    let joined = picked.join(" | ");
    let n = joined.chars().count();
    let cut = if n > QUOTED_CHARS {
        let tail: String = joined.chars().skip(n - QUOTED_CHARS).collect();
        format!("…{tail}")
    } else {
        joined
    };
    format!("its stderr ended with: {cut}")
}

fn read_frames(mut stdout: std::process::ChildStdout, tx: Sender<Incoming>) {
    loop {
        let msg = match protocol::read_frame(&mut stdout) {
            Ok(Some(f)) => Incoming::Frame(f),
            Ok(None) => Incoming::End,
            Err(e) => Incoming::Broken(e),
        };
        let last = !matches!(msg, Incoming::Frame(_));
        if tx.send(msg).is_err() || last {
            return;
        }
    }
}

/// Keeps the last lines of stderr and passes each to the log (info level), so a gym's own
/// messages show during training and `--quiet` hides them.
fn read_stderr(stderr: std::process::ChildStderr, tail: &Mutex<VecDeque<String>>) {
    let mut r = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end();
        if line.trim_start().is_empty() {
            continue;
        }
        log::info!("gym: {line}");
        let line: String = line.trim_start().chars().take(LINE_CHARS).collect();
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line);
        }
    }
}

/// A spawn request for the keeper thread.
struct Job {
    launch: Launch,
    reply: Sender<io::Result<std::process::Child>>,
}

/// Spawns on one long-lived thread: the parent-death signal fires when the *thread* that
/// forked the child ends, so children forked by a short-lived thread (a test, a worker)
/// would die with it. The keeper thread lives as long as the process.
fn spawn_on_keeper(launch: Launch) -> io::Result<std::process::Child> {
    static KEEPER: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("rnngym-gym-spawner".into())
            .spawn(move || {
                for job in rx {
                    let _ = job.reply.send(start(&job.launch));
                }
            });
        started.ok().map(|_| tx)
    });
    let Some(keeper) = keeper else {
        return start(&launch); // no thread to be had: the caller's thread it is
    };
    let (reply, answer) = mpsc::channel();
    let job = Job {
        launch: launch.clone(),
        reply,
    };
    if keeper.send(job).is_err() {
        return start(&launch);
    }
    answer
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the spawner thread is gone")))
}

/// Forks and execs the child: its own process group (a terminal's Ctrl-C reaches only the
/// trainer, which then checkpoints while the gym keeps serving), and on Linux SIGKILL when
/// the trainer dies.
fn start(launch: &Launch) -> io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(&launch.program);
    cmd.args(&launch.args)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = &launch.cwd {
        cmd.current_dir(dir);
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `getpid` has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe calls (prctl, getppid) and no allocation.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The trainer died between fork and prctl: nobody would kill this child.
                if libc::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    cmd.spawn()
}

/// How the child ended, if it has, leaving it waitable (so its pid, which names its
/// process group, cannot be reused before the group is killed).
#[cfg(target_os = "linux")]
fn exited_unreaped(proc: &mut std::process::Child) -> Option<String> {
    // SAFETY: an all-zero siginfo_t is valid; waitid only writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: waitid on our own unreaped child with a valid out-pointer.
    let r = unsafe { libc::waitid(libc::P_PID, proc.id(), &mut info, flags) };
    // SAFETY: reading the fields waitid filled for a CLD_* event.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if r != 0 || pid == 0 {
        return None;
    }
    Some(match info.si_code {
        libc::CLD_EXITED => format!("exited with status {status}"),
        _ => format!("was killed by signal {status}{}", signal_name(status)),
    })
}

/// Elsewhere: `try_wait` (which reaps; the group is then not killed).
#[cfg(not(target_os = "linux"))]
fn exited_unreaped(proc: &mut std::process::Child) -> Option<String> {
    match proc.try_wait() {
        Ok(Some(s)) => Some(match s.code() {
            Some(c) => format!("exited with status {c}"),
            None => format!("ended with {s}"),
        }),
        _ => None,
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGPIPE => " (SIGPIPE)",
        _ => "",
    }
}

/// SIGKILL to the child's process group (its own helpers die with it); the child itself
/// when the group is gone.
fn kill_group(proc: &mut std::process::Child) {
    // SAFETY: kill with a negative pid signals the group the child leads; the child is not
    // reaped yet, so the id is still its own.
    let r = unsafe { libc::kill(-(proc.id() as libc::pid_t), libc::SIGKILL) };
    if r != 0 {
        let _ = proc.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_quote_the_last_lines_on_one_line() {
        let mut t = VecDeque::new();
        assert_eq!(quote_tail(&t), "it wrote nothing to stderr");
        t.extend(["Traceback:", "File x", "ValueError: boom"].map(String::from));
        assert_eq!(
            quote_tail(&t),
            "its stderr ended with: Traceback: | File x | ValueError: boom"
        );
        let long: VecDeque<String> = (0..20).map(|i| format!("{i:>50}")).collect();
        let q = quote_tail(&long);
        assert!(q.ends_with("19"), "{q}");
        assert!(q.chars().count() <= QUOTED_CHARS + 30, "{q}");
        let huge: VecDeque<String> = ["x".repeat(450) + "END"].into();
        let q = quote_tail(&huge);
        assert!(q.contains('…') && q.ends_with("END"), "{q}");
    }
}
