//! The hostile-input catalogue on the real binary: each input gets one clear `error:` line
//! naming the file, key or value and what was expected (warnings before it are fine), a
//! non-zero exit, and no panic and no out-of-memory abort (sizes are checked before anything
//! large is allocated; the binary runs under a 4 GiB address-space limit to prove it). A few inputs are usable after all and must train with a warning.
//! Run with `--nocapture` to see the table of input → message.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Fixture;

const CONFIG: &str = r#"
[model]
hidden = 16
layers = 1
embed = 8
device = "cpu"
[train]
iterations = 3
batch = 2
seq_len = 8
val_every = 0
[gym]
id = "text-v1"
path = "corpus.txt"
val_fraction = 0
[checkpoint]
dir = "run"
"#;

const WAV_CONFIG: &str = r#"
[model]
hidden = 16
layers = 1
embed = 8
device = "cpu"
[train]
iterations = 3
batch = 2
seq_len = 8
val_every = 0
[gym]
id = "wav-v1"
path = "huge.wav"
val_fraction = 0
[gym.options]
sample_rate = 8000
[checkpoint]
dir = "wrun"
"#;

/// What an input must lead to.
enum Expect {
    /// Failure: one `error:` line holding every needle.
    Error(&'static [&'static str]),
    /// Success, with a `warn:` line holding every needle.
    Warns(&'static [&'static str]),
}

struct Case {
    input: &'static str,
    args: &'static [&'static str],
    expect: Expect,
}

/// A 16-bit mono 8 kHz WAV whose RIFF and data sizes claim 0xFFFFFFF0 bytes, with `samples`
/// samples really present.
fn lying_wav(samples: usize) -> Vec<u8> {
    let mut data = Vec::new();
    for i in 0..samples {
        data.extend_from_slice(&((i % 40) as i16 * 1000 - 20000).to_le_bytes());
    }
    let mut w = b"RIFF".to_vec();
    w.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    for (v, n) in [(1u32, 2), (1, 2), (8000, 4), (16000, 4), (2, 2), (16, 2)] {
        w.extend_from_slice(&v.to_le_bytes()[..n]);
    }
    w.extend_from_slice(b"data");
    w.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    w.extend_from_slice(&data);
    w
}

/// Writes every file the cases use into the fixture directory.
fn setup(f: &Fixture) {
    let p = |n: &str| f.file(n);
    std::fs::write(p("latin.txt"), b"abc\xff\xfedef, plain latin-1 text").unwrap();
    std::fs::write(p("empty.txt"), b"").unwrap();
    std::fs::create_dir(p("emptydir")).unwrap();
    std::fs::create_dir(p("hiddenonly")).unwrap();
    std::fs::write(p("hiddenonly/.notes.txt"), common::corpus()).unwrap();
    std::fs::create_dir(p("loops")).unwrap();
    std::os::unix::fs::symlink(".", p("loops/again")).unwrap();
    std::os::unix::fs::symlink("self", p("loops/self")).unwrap();
    std::fs::create_dir_all(p("loops_and_text/sub")).unwrap();
    std::os::unix::fs::symlink("..", p("loops_and_text/sub/back")).unwrap();
    std::os::unix::fs::symlink(".", p("loops_and_text/again")).unwrap();
    std::fs::write(p("loops_and_text/a.txt"), common::corpus()).unwrap();
    std::fs::write(p("wav.toml"), WAV_CONFIG).unwrap();
    std::fs::write(p("huge.wav"), lying_wav(2000)).unwrap();
    std::fs::write(p("hollow.wav"), lying_wav(1)).unwrap();
    // Outputs that must not be replaced: a private FIFO and a symbolic link.
    let fifo = Command::new("mkfifo").arg(p("fifo.html")).status().unwrap();
    assert!(fifo.success(), "mkfifo");
    std::os::unix::fs::symlink("c.toml", p("link.html")).unwrap();

    // Checkpoints: a good one, then two hostile variants of it.
    f.ok(&["train", "--config", "c.toml"]);
    let (meta, tensors) = rnngym_trainer::checkpoint::load(&p("run/latest.safetensors")).unwrap();
    // Each variant is the good checkpoint with `edit` applied to its tensors.
    type Tensors = std::collections::BTreeMap<String, rnngym_trainer::checkpoint::Tensor>;
    let save = |name: &str, meta: &serde_json::Value, edit: &dyn Fn(&mut Tensors)| {
        let mut edited = tensors.clone();
        edit(&mut edited);
        rnngym_trainer::checkpoint::save_map(&p(name), meta, &edited).unwrap();
    };
    save("misshapen.safetensors", &meta, &|t| {
        // proj.weight one column narrower than the config says.
        let w = t.get_mut("proj.weight").unwrap();
        w.shape[1] -= 1;
        w.data.truncate(w.shape.iter().product());
    });
    let mut huge = meta.clone();
    let config = meta["config"].as_str().unwrap();
    let config = config
        .replace("hidden = 16", "hidden = 65536")
        .replace("layers = 1", "layers = 64");
    huge["config"] = serde_json::Value::from(config);
    save("giant.safetensors", &huge, &|_| {});
    // Weights a training run never saves: one NaN in the output layer.
    save("nan.safetensors", &meta, &|t| {
        t.get_mut("proj.weight").unwrap().data[3] = f32::NAN;
    });
}

fn cases() -> Vec<Case> {
    use Expect::{Error, Warns};
    let train = |set: &'static str| -> &'static [&'static str] {
        Box::leak(vec!["train", "--config", "c.toml", "--set", set].into_boxed_slice())
    };
    vec![
        Case {
            input: "non-UTF-8 text corpus (bytes 0xFF 0xFE)",
            args: train("gym.path=latin.txt"),
            expect: Error(&["latin.txt", "not valid UTF-8", "0xff", "offset 3", "iconv"]),
        },
        Case {
            input: "zero-byte corpus file",
            args: train("gym.path=empty.txt"),
            expect: Error(&["gym.path", "empty.txt", "is empty"]),
        },
        Case {
            input: "empty corpus directory",
            args: train("gym.path=emptydir"),
            expect: Error(&["gym.path", "emptydir", "contains no (non-hidden) files"]),
        },
        Case {
            input: "corpus directory holding only hidden files",
            args: train("gym.path=hiddenonly"),
            expect: Error(&["gym.path", "hiddenonly", "contains no (non-hidden) files"]),
        },
        Case {
            input: "glob that matches no file",
            args: train("gym.path=*.nothing"),
            expect: Error(&["gym.path", "*.nothing", "matched no files"]),
        },
        Case {
            input: "corpus directory of symlink loops only (again -> ., self -> self)",
            args: train("gym.path=loops"),
            expect: Error(&["gym.path", "loops", "contains no (non-hidden) files"]),
        },
        Case {
            input: "symlink loops (again -> ., sub/back -> ..) beside a text file",
            args: train("gym.path=loops_and_text"),
            expect: Warns(&["loops_and_text", "symlink loop?"]),
        },
        Case {
            input: "WAV whose header claims 4 GiB (0xFFFFFFF0) in a 4 KB file",
            args: &["train", "--config", "wav.toml"],
            expect: Warns(&["huge.wav", "claims 4294967280 bytes but only 4000"]),
        },
        Case {
            input: "WAV whose header claims 4 GiB, holding one sample",
            args: &[
                "train",
                "--config",
                "wav.toml",
                "--set",
                "gym.path=hollow.wav",
            ],
            expect: Error(&["hollow.wav", "long enough for one window", "train.seq_len"]),
        },
        Case {
            input: "checkpoint with a tensor shape that does not match its config (sample)",
            args: &["sample", "--checkpoint", "misshapen.safetensors", "-n", "5"],
            expect: Error(&[
                "misshapen.safetensors",
                "proj.weight",
                "but the config needs",
            ]),
        },
        Case {
            input: "checkpoint with a tensor shape that does not match its config (resume)",
            args: &["train", "--resume", "misshapen.safetensors"],
            expect: Error(&[
                "misshapen.safetensors",
                "proj.weight",
                "but the config needs",
            ]),
        },
        Case {
            input: "checkpoint whose saved config asks for 2e12 parameters",
            args: &["sample", "--checkpoint", "giant.safetensors", "-n", "5"],
            expect: Error(&[
                "giant.safetensors",
                "model.hidden × model.layers",
                "parameters",
            ]),
        },
        Case {
            input: "model.hidden = 0",
            args: train("model.hidden=0"),
            expect: Error(&["model.hidden", "positive integer", "got 0"]),
        },
        Case {
            input: "model.layers = 0",
            args: train("model.layers=0"),
            expect: Error(&["model.layers", "positive integer", "got 0"]),
        },
        Case {
            input: "train.batch = -1",
            args: train("train.batch=-1"),
            expect: Error(&["train.batch", "-1", "expected usize"]),
        },
        Case {
            input: "model.hidden = 10000000",
            args: train("model.hidden=10000000"),
            expect: Error(&["model.hidden", "at most 65536", "10000000"]),
        },
        Case {
            input: "train.batch = 1e9 (a float)",
            args: train("train.batch=1e9"),
            expect: Error(&["train.batch", "floating point", "expected usize"]),
        },
        Case {
            input: "train.batch = 1000000000",
            args: train("train.batch=1000000000"),
            expect: Error(&["train.batch", "at most 67108864"]),
        },
        Case {
            input: "model.hidden = 65536 with model.layers = 64 (2e12 parameters)",
            args: &[
                "train",
                "--config",
                "c.toml",
                "--set",
                "model.hidden=65536",
                "--set",
                "model.layers=64",
            ],
            expect: Error(&[
                "model.hidden × model.layers",
                "at most 2147483648 parameters",
            ]),
        },
        Case {
            input: "train.batch × train.seq_len = 65536 × 1024 at hidden 8192 (about 14 TiB)",
            args: &[
                "train",
                "--config",
                "c.toml",
                "--set",
                "train.batch=65536",
                "--set",
                "train.seq_len=1024",
                "--set",
                "model.hidden=8192",
            ],
            expect: Error(&["train.batch × train.seq_len = 65536 × 1024", "GiB", "lower"]),
        },
        Case {
            input: "65536-level WAV codec × 65536 × 1024 windows (about 32 TiB, mostly logits)",
            args: &[
                "train",
                "--config",
                "wav.toml",
                "--set",
                "gym.options.levels=65536",
                "--set",
                "train.batch=65536",
                "--set",
                "train.seq_len=1024",
            ],
            expect: Error(&["train.batch × train.seq_len = 65536 × 1024", "GiB"]),
        },
        Case {
            input: "gym.options.levels = 4294967295",
            args: &[
                "train",
                "--config",
                "wav.toml",
                "--set",
                "gym.options.levels=4294967295",
            ],
            expect: Error(&["gym.options.levels", "4294967295", "2..=65536"]),
        },
        Case {
            input: "gym.path = a FIFO",
            args: train("gym.path=fifo.html"),
            expect: Error(&["gym.path", "fifo.html", "is a FIFO"]),
        },
        Case {
            input: "gym.path = a symbolic link to itself",
            args: train("gym.path=loops/self"),
            expect: Error(&["gym.path", "loops/self", "symbolic links"]),
        },
        Case {
            input: "checkpoint whose weights hold a NaN",
            args: &["sample", "--checkpoint", "nan.safetensors", "-n", "5"],
            expect: Error(&["nan.safetensors", "proj.weight", "NaN", "damaged"]),
        },
        Case {
            input: "--config a FIFO (would block, or read without bound)",
            args: &["train", "--config", "fifo.html"],
            expect: Error(&["fifo.html", "is a FIFO, not a regular file"]),
        },
        Case {
            input: "--prime-file a FIFO",
            args: &["sample", "--checkpoint", "run", "--prime-file", "fifo.html"],
            expect: Error(&["--prime-file", "fifo.html", "is a FIFO"]),
        },
        Case {
            input: "gym.path = \"\" (would be the config's folder)",
            args: train("gym.path=\"\""),
            expect: Error(&["gym.path", "missing or empty"]),
        },
        Case {
            input: "visualize --out a FIFO",
            args: &[
                "visualize",
                "--checkpoint",
                "run",
                "--prime",
                "ab",
                "--out",
                "fifo.html",
            ],
            expect: Error(&["--out", "fifo.html", "FIFO", "never replaces"]),
        },
        Case {
            input: "visualize --out a symbolic link",
            args: &[
                "visualize",
                "--checkpoint",
                "run",
                "--prime",
                "ab",
                "--out",
                "link.html",
            ],
            expect: Error(&["--out", "link.html", "symbolic link"]),
        },
        Case {
            input: "visualize --out the run's own checkpoint",
            args: &[
                "visualize",
                "--checkpoint",
                "run",
                "--prime",
                "ab",
                "--out",
                "run/latest.safetensors",
            ],
            expect: Error(&["run/latest.safetensors", "belongs to the run directory"]),
        },
    ]
}

/// Checks one case's output and returns the line that the table shows.
fn check(case: &Case, out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    for bad in [
        "panicked",
        "internal error",
        "memory allocation",
        "stack backtrace",
    ] {
        assert!(!stderr.contains(bad), "{}: {bad}:\n{stderr}", case.input);
    }
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let (warns, rest): (Vec<&str>, Vec<&str>) = lines.iter().partition(|l| l.starts_with("warn: "));
    let has_all = |line: &str, needles: &[&str]| needles.iter().all(|n| line.contains(n));
    match case.expect {
        Expect::Error(needles) => {
            assert!(
                !out.status.success(),
                "{}: succeeded:\n{stderr}",
                case.input
            );
            assert_eq!(rest.len(), 1, "{}: one error line:\n{stderr}", case.input);
            let line = rest[0];
            assert!(line.starts_with("error: "), "{}: {line}", case.input);
            assert!(
                has_all(line, needles),
                "{}: {needles:?} not all in:\n{line}",
                case.input
            );
            line.to_string()
        }
        Expect::Warns(needles) => {
            assert!(out.status.success(), "{}: failed:\n{stderr}", case.input);
            assert!(
                rest.is_empty(),
                "{}: unexpected output:\n{stderr}",
                case.input
            );
            let line = warns.iter().find(|l| has_all(l, needles));
            let line = line.unwrap_or_else(|| panic!("{}: no warning {needles:?}", case.input));
            format!("ok, {line}")
        }
    }
}

#[test]
fn every_hostile_input_gets_one_clear_line_and_no_large_allocation() {
    let corpus = common::corpus();
    let f = Fixture::new(&corpus, CONFIG);
    setup(&f);
    let mut table = Vec::new();
    for case in cases() {
        // Under a 4 GiB address-space limit: an allocation sized from hostile input would fail
        // here (and show in the message) even on a machine with room for it.
        let out = Command::new("sh")
            .args(["-c", "ulimit -v 4194304 && exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_rnngym"))
            .args(case.args)
            .current_dir(f.path())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let line = check(&case, &out);
        table.push((
            case.input,
            line.replace(&*f.path().display().to_string(), "$DIR"),
        ));
    }
    println!("| input | outcome |\n| --- | --- |");
    for (input, line) in &table {
        println!("| {input} | `{line}` |");
    }
    // Nothing was trained into place by a refused run: the good checkpoint is the first run's.
    assert!(Path::new(&f.file("run/latest.safetensors")).is_file());
}
