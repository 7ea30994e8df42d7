//! Config tests: parsing, error messages, validation rules and overrides.

use std::path::PathBuf;

use rnngym_gyms::UnknownPolicy;

use super::*;

const FULL: &str = r#"
# A complete example: every key of every section.
[model]
cell = "gru"
hidden = 256
layers = 3
embed = 64
dropout = 0.25
device = "cuda:1"
init_scale = 0.08

[train]
iterations = 10000
batch = 50
seq_len = 100
lr = 1e-3
seed = 7
optimizer = "rmsprop"
beta1 = 0.8
beta2 = 0.99
eps = 1e-6
weight_decay = 0.01
rms_alpha = 0.95
grad_clip = 0
schedule = "step"
warmup = 100
decay_every = 2000
decay_rate = 0.97
min_lr = 1e-5
val_every = 500
val_windows = 64
log_every = 10
sample_every = 250
threads = 4
divergence_factor = 20
max_rollbacks = 5
rollback_depth = 2

[gym]
id = "text-v1"
path = "data/*.txt"
val_fraction = 0.05

[gym.options]
lowercase = true

[sample]
length = 2000
temperature = 0.8
top_k = 40
top_p = 0.9
prime = "ROMEO:"
seed = 123
unknown = "skip"
argmax = false
train_length = 300
train_temperature = 0.5
train_seconds = 2.5

[checkpoint]
dir = "runs/shakespeare"
every = 1000
keep_best = false
"#;

fn err(text: &str) -> String {
    Config::from_toml_str(text, "configs/x.toml")
        .unwrap_err()
        .to_string()
}

fn over(args: &[&str]) -> Result<Config, ConfigError> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    Config::load_with_overrides(None, &args)
}

fn invalid_key(cfg: &Config) -> String {
    match cfg.validate() {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn defaults_validate_and_empty_text_is_defaults() {
    Config::default().validate().unwrap();
    assert_eq!(Config::from_toml_str("", "x").unwrap(), Config::default());
    let d = Config::default();
    assert_eq!(d.model.embed_dim(), 128);
    assert_eq!(d.model.device, DeviceChoice::Auto);
    assert_eq!(d.gym.id, "text-v1");
}

#[test]
fn full_example_parses() {
    let c = Config::from_toml_str(FULL, "full.toml").unwrap();
    assert_eq!(c.model.cell, CellKind::Gru);
    assert_eq!(c.model.embed_dim(), 64);
    assert_eq!(c.model.device, DeviceChoice::Cuda(Some(1)));
    assert_eq!(c.train.optimizer, OptimizerKind::Rmsprop);
    assert_eq!(c.train.schedule, ScheduleKind::Step);
    assert_eq!(c.train.grad_clip, 0.0);
    assert_eq!(c.train.lr, 1e-3);
    assert_eq!(c.train.max_rollbacks, 5);
    assert_eq!(c.train.rollback_depth, 2);
    assert_eq!(c.gym.path.as_deref(), Some("data/*.txt"));
    assert_eq!(
        c.gym.options.get("lowercase"),
        Some(&toml::Value::Boolean(true))
    );
    assert_eq!(c.sample.unknown, UnknownPolicy::Skip);
    assert_eq!(c.sample.seed, Some(123));
    assert!(!c.checkpoint.keep_best);
    assert_eq!(c.sample.train_seconds, 2.5);
}

#[test]
fn toml_round_trip() {
    for c in [Config::default(), Config::from_toml_str(FULL, "f").unwrap()] {
        let text = c.to_toml_string();
        assert_eq!(Config::from_toml_str(&text, "rt").unwrap(), c, "{text}");
    }
    // An unrenderable config must not reload as a silently all-defaults one.
    let mut c = Config::default();
    c.train.seed = u64::MAX;
    assert!(Config::from_toml_str(&c.to_toml_string(), "rt").is_err());
}

#[test]
fn typo_is_one_line_with_file_line_and_full_key() {
    let e = err("[train]\nlr = 1e-3\n\n[model]\nhidden = 3\nhiden = 3\n");
    assert!(!e.contains('\n'), "{e}");
    assert!(e.starts_with("configs/x.toml:6:"), "{e}");
    assert!(e.contains("unknown key model.hiden"), "{e}");
    assert!(e.contains("expected one of cell, hidden"), "{e}");
    let e = err("[modle]\nhidden = 3\n");
    assert!(
        e.starts_with("configs/x.toml:1:") && e.contains("unknown key modle"),
        "{e}"
    );
    let e = err("model.hiden = 3\n");
    assert!(e.contains("unknown key model.hiden"), "{e}");
    // A field of an internally tagged table is named under that table.
    let e = err("[model]\nhidden = 3\n[model.features]\nkind = \"lpc\"\nbogus = 1\n");
    assert!(e.contains("unknown key model.features.bogus;"), "{e}");
    let e = err("[gym]\nid = \"text-v1\"\noptons = 1\n");
    assert!(
        e.starts_with("configs/x.toml:3:") && e.contains("gym.optons"),
        "{e}"
    );
}

#[test]
fn wrong_type_names_key_and_position() {
    let e = err("[train]\nlr = 1e-3\nbatch = \"abc\"\n");
    assert_eq!(
        e,
        "configs/x.toml:3:9: invalid type: string \"abc\", expected usize (key train.batch)"
    );
    let e = err("[model]\ncell = \"lstmm\"\n");
    assert!(e.contains("lstmm") && e.contains("(key model.cell)"), "{e}");
    let e = err("[train\nbatch = 3\n");
    assert!(
        e.starts_with("configs/x.toml:1:") && !e.contains('\n'),
        "{e}"
    );
}

#[test]
fn load_reads_file_and_sets_base_dir() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(
        &p,
        "[model]\nhidden = 32\n[gym]\nid = \"text-v1\"\npath = \"a.txt\"\n",
    )
    .unwrap();
    let c = Config::load(&p).unwrap();
    assert_eq!(c.model.hidden, 32);
    assert_eq!(c.gym.base_dir, dir.path());
    let missing = dir.path().join("nope.toml");
    let e = Config::load(&missing).unwrap_err().to_string();
    assert!(e.contains("nope.toml"), "{e}");
    std::fs::write(&p, "[train]\nbatch = 0\n").unwrap();
    let e = Config::load(&p).unwrap_err().to_string();
    assert_eq!(e, "train.batch: expected a positive integer, got 0");
    std::fs::write(&p, "[train]\nbatchh = 1\n").unwrap();
    let e = Config::load(&p).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:2:", p.display())), "{e}");
    // File values come first, overrides after, in order.
    std::fs::write(&p, "[model]\nhidden = 32\n").unwrap();
    let args = ["model.hidden=8".to_string(), "model.layers=1".to_string()];
    let c = Config::load_with_overrides(Some(&p), &args).unwrap();
    assert_eq!((c.model.hidden, c.model.layers), (8, 1));
}

#[test]
fn each_validation_rule_names_its_key() {
    type Case = (&'static str, fn(&mut Config));
    let cases: &[Case] = &[
        ("model.hidden", |c| c.model.hidden = 0),
        ("model.hidden", |c| c.model.hidden = MAX_WIDTH + 1),
        ("model.layers", |c| c.model.layers = 0),
        ("model.layers", |c| c.model.layers = 65),
        ("model.embed", |c| c.model.embed = Some(0)),
        ("model.hidden × model.layers", |c| {
            (c.model.hidden, c.model.layers) = (MAX_WIDTH, MAX_LAYERS)
        }),
        ("model.dropout", |c| c.model.dropout = 1.0),
        ("model.dropout", |c| c.model.dropout = -0.1),
        ("model.init_scale", |c| c.model.init_scale = f64::NAN),
        ("model.forget_bias", |c| {
            c.model.forget_bias = Some(f64::NAN)
        }),
        ("model.forget_bias", |c| {
            c.model.cell = CellKind::Gru;
            c.model.forget_bias = Some(1.0);
        }),
        ("train.iterations", |c| c.train.iterations = 0),
        ("train.iterations", |c| c.train.iterations = u64::MAX),
        ("train.batch", |c| c.train.batch = 0),
        ("train.seq_len", |c| c.train.seq_len = 0),
        ("train.batch * train.seq_len", |c| c.train.batch = 1 << 21),
        ("train.lr", |c| c.train.lr = 0.0),
        ("train.lr", |c| c.train.lr = f64::INFINITY),
        ("train.lr", |c| c.train.lr = f64::NAN),
        ("train.seed", |c| c.train.seed = u64::MAX),
        ("train.beta1", |c| c.train.beta1 = 1.0),
        ("train.beta2", |c| c.train.beta2 = -0.5),
        ("train.rms_alpha", |c| c.train.rms_alpha = 1.5),
        ("train.eps", |c| c.train.eps = 0.0),
        ("train.weight_decay", |c| c.train.weight_decay = -1.0),
        ("train.grad_clip", |c| c.train.grad_clip = -1.0),
        ("train.decay_rate", |c| c.train.decay_rate = 0.0),
        ("train.min_lr", |c| c.train.min_lr = 1.0),
        ("train.decay_every", |c| {
            c.train.schedule = ScheduleKind::Step;
            c.train.decay_every = 0;
        }),
        ("gym.id", |c| c.gym.id = " ".into()),
        ("gym.val_fraction", |c| c.gym.val_fraction = 0.6),
        ("gym.val_fraction", |c| c.gym.val_fraction = -0.1),
        ("sample.temperature", |c| c.sample.temperature = 0.0),
        ("sample.temperature", |c| c.sample.temperature = f64::NAN),
        ("sample.top_p", |c| c.sample.top_p = 0.0),
        ("sample.top_p", |c| c.sample.top_p = 1.01),
        ("sample.seed", |c| c.sample.seed = Some(u64::MAX)),
        ("sample.train_temperature", |c| {
            c.sample.train_temperature = Some(0.0)
        }),
        ("sample.train_seconds", |c| c.sample.train_seconds = -1.0),
        ("train.input_noise", |c| c.train.input_noise = -1.0),
        ("train.collective_timeout_s", |c| {
            c.train.collective_timeout_s = -1.0
        }),
        ("train.collective_timeout_s", |c| {
            c.train.collective_timeout_s = f64::NAN
        }),
        ("train.input_noise", |c| c.train.input_noise = f64::NAN),
        ("sample.pitch_sharpening", |c| {
            c.sample.pitch_sharpening = -0.5
        }),
        ("sample.train_seconds", |c| c.sample.train_seconds = 16000.0),
        ("sample.train_seconds", |c| {
            c.sample.train_seconds = f64::NAN
        }),
        ("sample.train_length", |c| {
            c.train.sample_every = 10;
            c.sample.train_length = 0;
        }),
        ("checkpoint.dir", |c| c.checkpoint.dir = String::new()),
    ];
    for (key, mutate) in cases {
        let mut c = Config::default();
        mutate(&mut c);
        assert_eq!(invalid_key(&c), *key);
    }
    let mut c = Config::default();
    c.train.batch = 0;
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "train.batch: expected a positive integer, got 0"
    );
    // Boundary values that must stay accepted.
    let mut c = Config::default();
    c.train.grad_clip = 0.0;
    c.gym.val_fraction = 0.5;
    c.sample.top_p = 1.0;
    c.sample.train_seconds = 0.0;
    c.model.device = "cuda".parse().unwrap();
    c.validate().unwrap();
    c.sample.train_seconds = 600.0;
    c.validate().unwrap();
    assert_eq!(c.model.device.cuda_ordinal(), Some(0));
}

#[test]
fn overrides_of_each_value_type() {
    let c = over(&[
        "model.hidden=64",
        "train.lr=2e-4",
        "train.seed=9",
        "sample.argmax=true",
        "model.cell=rnn",
        "model.device=cpu",
        "sample.prime=\"a\\nb\"",
        "sample.seed=5",
        "model.embed=16",
        "checkpoint.dir=2024",
        "gym.path=corpus/",
        "gym.options.min_count=2",
        "model.dropout=0",
    ])
    .unwrap();
    assert_eq!(c.model.hidden, 64);
    assert_eq!(c.train.lr, 2e-4);
    assert_eq!(c.train.seed, 9);
    assert!(c.sample.argmax);
    assert_eq!(c.model.cell, CellKind::Rnn);
    assert_eq!(c.model.device, DeviceChoice::Cpu);
    assert_eq!(c.sample.prime, "a\nb");
    assert_eq!(c.sample.seed, Some(5));
    assert_eq!(c.model.embed_dim(), 16);
    assert_eq!(c.checkpoint.dir, "2024");
    // A path typed on the command line is against the current directory.
    let cwd_corpus = std::path::absolute("corpus/").unwrap();
    assert_eq!(c.gym.path, Some(cwd_corpus.display().to_string()));
    assert_eq!(
        c.gym.options.get("min_count"),
        Some(&toml::Value::Integer(2))
    );
    // The last override of a key wins.
    assert_eq!(
        over(&["model.layers=3", "model.layers=4"])
            .unwrap()
            .model
            .layers,
        4
    );
}

#[test]
fn bad_overrides_name_the_override() {
    let e = over(&["model.hiden=3"]).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "--set model.hiden=3: unknown key model.hiden; expected one of cell, hidden, layers"
        ),
        "{e}"
    );
    let e = over(&["modle.hidden=3"]).unwrap_err().to_string();
    assert!(e.contains("unknown key modle;"), "{e}");
    let e = over(&["train.batch=abc"]).unwrap_err().to_string();
    assert!(
        e.contains("train.batch=abc") && e.contains("expected usize"),
        "{e}"
    );
    let e = over(&["model.hidden.x=1"]).unwrap_err().to_string();
    assert!(e.contains("model.hidden is not a table"), "{e}");
    for bad in ["train", "=3", "model..hidden=3"] {
        let e = over(&[bad]).unwrap_err().to_string();
        assert!(e.starts_with(&format!("--set {bad}:")), "{e}");
    }
    // Overrides are validated too.
    let e = over(&["train.batch=0"]).unwrap_err().to_string();
    assert_eq!(e, "train.batch: expected a positive integer, got 0");
}

#[test]
fn file_paths_resolve_against_its_folder_and_set_paths_against_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("cfg")).unwrap();
    let p = dir.path().join("cfg/c.toml");
    std::fs::write(
        &p,
        "[gym]\npath = \"a.txt\"\n[gym.options]\ncache_dir = \"cache\"\n\
         [checkpoint]\ndir = \"../runs/x\"\n",
    )
    .unwrap();
    let c = Config::load(&p).unwrap();
    let folder = dir.path().join("cfg");
    // The gym joins its paths to base_dir; checkpoint.dir is joined here.
    assert_eq!(c.gym.base_dir, folder);
    assert_eq!(c.gym.path.as_deref(), Some("a.txt"));
    let cache = c.gym.options.get("cache_dir").and_then(|v| v.as_str());
    assert_eq!(cache, Some("cache"));
    // `cfg/../runs/x`, written without the detour through the real directory `cfg`.
    let run = dir.path().join("runs/x").display().to_string();
    assert_eq!(c.checkpoint.dir, run);
    // Through a symbolic link, `..` is the link target's parent: the path is kept whole.
    #[cfg(unix)]
    {
        let link = dir.path().join("elsewhere/link");
        std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(&folder, &link).unwrap();
        let c = Config::load(&link.join("c.toml")).unwrap();
        assert_eq!(
            c.checkpoint.dir,
            link.join("../runs/x").display().to_string()
        );
    }

    let args = [
        "gym.path=b.txt",
        "gym.options.cache_dir=tmp",
        "checkpoint.dir=out",
    ]
    .map(String::from);
    let c = Config::load_with_overrides(Some(&p), &args).unwrap();
    let cwd = |rel: &str| std::path::absolute(rel).unwrap().display().to_string();
    assert_eq!(c.gym.path, Some(cwd("b.txt")));
    let cache = c.gym.options.get("cache_dir").and_then(|v| v.as_str());
    assert_eq!(cache, Some(cwd("tmp").as_str()));
    // The process resolves a relative checkpoint.dir against the current directory.
    assert_eq!(c.checkpoint.dir, "out");
    // Absolute paths and other keys are left as they are; so is an empty gym.path (refused
    // later, not turned into the current directory).
    let c = over(&["gym.path=/data/x.txt", "gym.options.cache_dir=/tmp/c"]).unwrap();
    assert_eq!(c.gym.path.as_deref(), Some("/data/x.txt"));
    let cache = c.gym.options.get("cache_dir").and_then(|v| v.as_str());
    assert_eq!(cache, Some("/tmp/c"));
    let c = over(&["gym.path=\"\""]).unwrap();
    assert_eq!(c.gym.path.as_deref(), Some(""));
    // Without a file, the default stands as written.
    let c = Config::load_with_overrides(None, &[]).unwrap();
    assert_eq!(c.checkpoint.dir, "runs/default");
}

#[test]
fn apply_override_keeps_base_dir() {
    let mut c = Config::default();
    c.gym.base_dir = PathBuf::from("/data");
    c.apply_override("train.iterations=5").unwrap();
    assert_eq!(c.train.iterations, 5);
    assert_eq!(c.gym.base_dir, PathBuf::from("/data"));
    assert!(c.apply_override("train.nope=5").is_err());
    assert_eq!(c.gym.base_dir, PathBuf::from("/data"));
}

#[test]
fn device_is_typed_at_parse_time_and_saved_as_written() {
    // A bad value is refused by the parser, naming the file, position, key, value and what
    // was expected.
    for bad in ["gpu", "cuda:", "cuda:+1", "cuda:x", "CPU"] {
        let e = err(&format!("[model]\nhidden = 8\ndevice = \"{bad}\"\n"));
        assert!(!e.contains('\n'), "{e}");
        assert!(e.starts_with("configs/x.toml:3:"), "{e}");
        assert!(e.contains("(key model.device)"), "{e}");
        assert!(e.contains(&format!("got {bad:?}")), "{e}");
        assert!(
            e.contains("\"auto\", \"cpu\", \"cuda\" or \"cuda:N\""),
            "{e}"
        );
        let arg = format!("model.device={bad}");
        let e = over(&[&arg]).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.starts_with(&format!("--set {arg}: ")), "{e}");
        assert!(
            e.contains("model.device") && e.contains(&format!("{bad:?}")),
            "{e}"
        );
    }
    let e = err("[model]\ndevice = 1\n");
    assert!(e.contains("(key model.device)"), "{e}");

    // Each spelling reads as its choice and renders back as written ("cuda" stays "cuda").
    let cases = [
        ("auto", DeviceChoice::Auto, None),
        ("cpu", DeviceChoice::Cpu, None),
        ("cuda", DeviceChoice::Cuda(None), Some(0)),
        ("cuda:0", DeviceChoice::Cuda(Some(0)), Some(0)),
        ("cuda:3", DeviceChoice::Cuda(Some(3)), Some(3)),
    ];
    for (text, choice, ordinal) in cases {
        assert_eq!(text.parse::<DeviceChoice>(), Ok(choice));
        assert_eq!(choice.to_string(), text);
        assert_eq!(choice.cuda_ordinal(), ordinal);
        let c = Config::from_toml_str(&format!("[model]\ndevice = \"{text}\"\n"), "x").unwrap();
        assert_eq!(c.model.device, choice);
        let saved = c.to_toml_string();
        assert!(saved.contains(&format!("device = \"{text}\"\n")), "{saved}");
        assert_eq!(Config::from_toml_str(&saved, "rt").unwrap(), c);
        let c = over(&[&format!("model.device={text}")]).unwrap();
        assert_eq!(c.model.device, choice);
    }
}
