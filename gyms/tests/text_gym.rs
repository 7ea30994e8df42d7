//! Text gym tests: corpus loading, splits, window layout, determinism, error messages.

use std::fs;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rnngym_gyms::text::TextGym;
use rnngym_gyms::{check_gym, Gym, GymError, GymSpec, Shape, Split, Step, WindowError};

fn shape(batch: usize, seq: usize) -> Shape {
    Shape { batch, seq }
}

fn spec(path: &str, base: &Path) -> GymSpec {
    let mut s = GymSpec::new("text-v1");
    s.path = Some(path.to_string());
    s.base_dir = base.to_path_buf();
    s
}

fn err_of(spec: &GymSpec) -> String {
    match TextGym::from_spec(spec) {
        Ok(_) => panic!("expected an error for {spec:?}"),
        Err(e) => e.to_string(),
    }
}

/// Runs a whole episode, returning its steps.
fn episode(gym: &mut TextGym, split: Split, seed: u64, sh: Shape) -> Vec<Step> {
    let info = gym.reset(split, seed, sh).unwrap();
    let mut steps = Vec::new();
    loop {
        let s = gym.step().unwrap();
        let done = s.episode_done;
        steps.push(s);
        if done {
            break;
        }
    }
    assert_eq!(info.windows, Some(steps.len()));
    steps
}

fn random_text(len: usize, seed: u64) -> String {
    let alphabet: Vec<char> = "abcdefghij é☃😀\n".chars().collect();
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
        .collect()
}

#[test]
fn check_gym_passes_on_text() {
    let text = "café ☃ 😀 hello world\n".repeat(60);
    let mut gym = TextGym::from_text(&text, 0.1).unwrap();
    let report = check_gym(&mut gym, shape(4, 8)).unwrap();
    assert_eq!(report.vocab_size, distinct_chars(&text));
    let n = text.chars().count();
    let n_val = (n as f64 * 0.1).floor() as usize;
    assert_eq!(report.train_windows, (n - n_val - 1) / 32);
    assert_eq!(report.val_windows, Some((n_val - 1) / 32));
    assert!(report.to_string().contains("vocab_size="));

    let mut gym = TextGym::from_text(&text, 0.0).unwrap();
    let report = check_gym(&mut gym, shape(2, 3)).unwrap();
    assert_eq!(report.val_windows, None);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("gym.val_fraction is 0")),
        "{report}"
    );
}

fn distinct_chars(text: &str) -> usize {
    let mut c: Vec<char> = text.chars().collect();
    c.sort();
    c.dedup();
    c.len()
}

#[test]
fn directory_corpus_is_sorted_recursive_and_skips_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("corpus");
    fs::create_dir_all(d.join("b_sub")).unwrap();
    fs::create_dir_all(d.join(".git")).unwrap();
    fs::write(d.join("c.txt"), "ccc café\n").unwrap();
    fs::write(d.join("a.txt"), "aaa ☃\n").unwrap();
    fs::write(d.join("b_sub/x.txt"), "xxx 😀\n").unwrap();
    fs::write(d.join(".hidden"), "HIDDEN").unwrap();
    fs::write(d.join(".git/config"), "GIT").unwrap();
    let mut gym = TextGym::from_spec(&spec("corpus", dir.path())).unwrap();
    let all: Vec<u32> = [gym.tokens(Split::Train), gym.tokens(Split::Val)].concat();
    let text = gym.codec().render(&all);
    assert_eq!(text, "aaa ☃\nxxx 😀\nccc café\n");
    check_gym(&mut gym, shape(2, 2)).unwrap();
}

#[test]
fn glob_and_single_file_corpora() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("data")).unwrap();
    fs::write(dir.path().join("data/2.txt"), "second ").unwrap();
    fs::write(dir.path().join("data/1.txt"), "first ").unwrap();
    fs::write(dir.path().join("data/3.md"), "not matched").unwrap();
    fs::write(dir.path().join("data/.0.txt"), "hidden").unwrap();
    let gym = TextGym::from_spec(&spec("data/*.txt", dir.path())).unwrap();
    let all: Vec<u32> = [gym.tokens(Split::Train), gym.tokens(Split::Val)].concat();
    assert_eq!(gym.codec().render(&all), "first second ");

    let abs = dir.path().join("data/2.txt");
    let gym = TextGym::from_spec(&spec(abs.to_str().unwrap(), Path::new("/nonexistent"))).unwrap();
    assert_eq!(
        gym.tokens(Split::Train).len() + gym.tokens(Split::Val).len(),
        7
    );
}

#[test]
fn lowercase_option() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("t.txt"), "AbC ÉÉ abc").unwrap();
    let mut s = spec("t.txt", dir.path());
    s.options
        .insert("lowercase".into(), toml::Value::Boolean(true));
    let gym = TextGym::from_spec(&s).unwrap();
    assert_eq!(gym.char_codec().chars(), &[' ', 'a', 'b', 'c', 'é']);
    s.options
        .insert("lowercase".into(), toml::Value::String("yes".into()));
    assert!(err_of(&s).contains("gym.options.lowercase"));
}

#[cfg(unix)]
#[test]
fn symlink_loop_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("c");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("a.txt"), "hello world").unwrap();
    std::os::unix::fs::symlink(&d, d.join("loop")).unwrap();
    std::os::unix::fs::symlink(dir.path(), d.join("up")).unwrap();
    let gym = TextGym::from_spec(&spec("c", dir.path())).unwrap();
    let n = gym.tokens(Split::Train).len() + gym.tokens(Split::Val).len();
    assert_eq!(n, "hello world".len());
}

#[test]
fn split_sizes() {
    let text = random_text(1000, 1);
    let gym = TextGym::from_text(&text, 0.25).unwrap();
    assert_eq!(gym.tokens(Split::Val).len(), 250);
    assert_eq!(gym.tokens(Split::Train).len(), 750);
    let all: Vec<u32> = [gym.tokens(Split::Train), gym.tokens(Split::Val)].concat();
    assert_eq!(gym.codec().render(&all), text);
}

#[test]
fn window_layout_is_contiguous_lanes() {
    let text = random_text(3000, 7);
    let mut gym = TextGym::from_text(&text, 0.1).unwrap();
    let s = gym.tokens(Split::Train).to_vec();
    let n = s.len();
    let (b, t) = (3, 16);
    let w = (n - 1) / (b * t);
    for seed in [0, 1, 99] {
        let steps = episode(&mut gym, Split::Train, seed, shape(b, t));
        assert_eq!(steps.len(), w);
        for (i, st) in steps.iter().enumerate() {
            assert_eq!(st.reset, vec![i == 0; b]);
            assert_eq!(st.episode_done, i == w - 1);
        }
        // Each lane, read across windows, is one contiguous slice of the split.
        let mut starts = Vec::new();
        for lane in 0..b {
            let mut stream: Vec<u32> = Vec::new();
            for (wi, st) in steps.iter().enumerate() {
                let x = &st.inputs[lane * t..(lane + 1) * t];
                let y = &st.targets[lane * t..(lane + 1) * t];
                assert_eq!(&x[1..], &y[..t - 1], "targets are inputs shifted by one");
                if wi + 1 < steps.len() {
                    let next = steps[wi + 1].inputs[lane * t];
                    assert_eq!(
                        y[t - 1],
                        next,
                        "lane {lane} continues into window {}",
                        wi + 1
                    );
                }
                stream.extend_from_slice(x);
            }
            stream.push(
                *steps.last().unwrap().targets[(lane + 1) * t - 1..]
                    .first()
                    .unwrap(),
            );
            let pos: Vec<usize> = (0..=n - stream.len())
                .filter(|&o| s[o..o + stream.len()] == stream[..])
                .collect();
            assert_eq!(pos.len(), 1, "lane {lane} stream found at {pos:?}");
            starts.push(pos[0]);
        }
        for lane in 1..b {
            assert_eq!(starts[lane], starts[0] + lane * w * t);
        }
        assert!(starts[0] + b * w * t < n);
    }
}

#[test]
fn same_seed_same_stream_different_seeds_move_offset() {
    let text = random_text(5000, 3);
    let mut gym = TextGym::from_text(&text, 0.1).unwrap();
    let sh = shape(4, 7);
    assert_eq!(
        episode(&mut gym, Split::Train, 5, sh),
        episode(&mut gym, Split::Train, 5, sh)
    );
    assert_eq!(
        episode(&mut gym, Split::Val, 5, sh),
        episode(&mut gym, Split::Val, 5, sh)
    );
    let firsts: Vec<Vec<u32>> = (0..20)
        .map(|seed| {
            gym.reset(Split::Train, seed, sh).unwrap();
            gym.step().unwrap().inputs
        })
        .collect();
    assert!(
        firsts.iter().any(|f| f != &firsts[0]),
        "offsets never vary with the seed"
    );
}

#[test]
fn step_contract_errors() {
    let mut gym = TextGym::from_text(&random_text(200, 2), 0.0).unwrap();
    assert!(matches!(gym.step(), Err(GymError::Contract(_))));
    let steps = episode(&mut gym, Split::Train, 0, shape(2, 4));
    assert!(steps.last().unwrap().episode_done);
    assert!(matches!(gym.step(), Err(GymError::Contract(_))));
    let msg = gym
        .reset(Split::Val, 0, shape(2, 4))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("no validation split: gym.val_fraction is 0"),
        "{msg}"
    );
    // A failed reset leaves no episode behind.
    assert!(gym.step().is_err());
    assert!(gym.reset(Split::Train, 0, shape(0, 4)).is_err());
}

#[test]
fn too_small_splits_name_the_shape() {
    let mut gym = TextGym::from_text(&random_text(10_000, 4), 0.1).unwrap();
    let err = gym.reset(Split::Val, 0, shape(32, 64)).unwrap_err();
    assert!(
        matches!(
            err,
            GymError::Window(WindowError::TooSmall {
                batch: 32,
                seq: 64,
                ..
            })
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("validation split has 1000 characters"),
        "{msg}"
    );
    assert!(
        msg.contains("one window of 32 lanes × 64 steps (needs 2049)"),
        "{msg}"
    );
    // The trainer and the CLI name the keys that set the shape; the gym does not.
    assert!(!msg.contains("train."), "{msg}");
    assert!(msg.contains("gym.val_fraction"), "{msg}");
    let msg = gym
        .reset(Split::Train, 0, shape(100, 100))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("train split has 9000 characters"), "{msg}");
    // Exactly n - 1 = B*T fits one window.
    let mut gym = TextGym::from_text(&random_text(9, 5), 0.0).unwrap();
    let info = gym.reset(Split::Train, 3, shape(2, 4)).unwrap();
    assert_eq!(info.windows, Some(1));
    assert_eq!(info.tokens, 9);
    assert!(info.name.starts_with("train split of"), "{}", info.name);
}

#[test]
fn config_and_corpus_errors_name_the_key_or_path() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    fs::write(base.join("ok.txt"), "hello world").unwrap();
    fs::write(base.join("empty.txt"), "").unwrap();
    fs::write(base.join("one.txt"), "aaaa").unwrap();
    fs::write(base.join("latin1.txt"), b"caf\xe9 au lait").unwrap();
    fs::create_dir(base.join("emptydir")).unwrap();
    fs::write(base.join("emptydir/.hidden"), "x").unwrap();

    let m = err_of(&spec("nope.txt", base));
    assert!(
        m.contains("gym.path: no such file or directory") && m.contains("nope.txt"),
        "{m}"
    );
    let m = err_of(&spec("emptydir", base));
    assert!(
        m.contains("gym.path") && m.contains("emptydir") && m.contains("no"),
        "{m}"
    );
    let m = err_of(&spec("*.wav", base));
    assert!(
        m.contains("gym.path: glob pattern") && m.contains("*.wav"),
        "{m}"
    );
    let m = err_of(&spec("latin1.txt", base));
    assert!(
        m.contains("latin1.txt") && m.contains("byte offset 3") && m.contains("iconv"),
        "{m}"
    );
    let m = err_of(&spec("empty.txt", base));
    assert!(m.contains("empty.txt") && m.contains("empty"), "{m}");
    let m = err_of(&spec("one.txt", base));
    assert!(
        m.contains("one.txt") && m.contains("at least 2 distinct characters"),
        "{m}"
    );

    let mut s = GymSpec::new("text-v1");
    assert!(err_of(&s).contains("gym.path"));
    s.path = Some("ok.txt".into());
    s.base_dir = base.to_path_buf();
    for bad in [0.7, -0.1, f64::NAN] {
        s.val_fraction = bad;
        let m = err_of(&s);
        assert!(
            m.contains("gym.val_fraction") && m.contains(&bad.to_string()),
            "{m}"
        );
    }
    assert!(TextGym::from_text("abc", 0.6).is_err());
    s.val_fraction = 0.5;
    s.options.insert("foo".into(), toml::Value::Integer(1));
    let m = err_of(&s);
    assert!(
        m.contains("gym.options.foo") && m.contains("text-v1"),
        "{m}"
    );
}

#[cfg(unix)]
#[test]
fn unreadable_file_is_an_io_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("secret.txt");
    fs::write(&f, "hello world").unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read(&f).is_ok() {
        println!("skipped: running with permissions that can read mode-000 files (root?)");
        return;
    }
    let m = err_of(&spec("secret.txt", dir.path()));
    assert!(m.contains("secret.txt") && m.contains("cannot read"), "{m}");
}

#[test]
fn tinyshakespeare_loads_and_checks() {
    let path = "/work/shared/data/tinyshakespeare/input.txt";
    if !Path::new(path).exists() {
        println!("skipped: {path} not present");
        return;
    }
    let mut gym = TextGym::from_spec(&spec(path, Path::new(""))).unwrap();
    assert_eq!(gym.codec().vocab_size(), 65);
    let report = check_gym(&mut gym, shape(32, 64)).unwrap();
    assert!(report.train_windows > 400, "{report}");
    assert!(report.val_windows.is_some(), "{report}");
}
