//! The streaming text path: the mapped token cache serves exactly what the heap path serves,
//! chunk boundaries never split a character, and bad input names the file and byte offset.

use std::fs;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rnngym_gyms::text::TextGym;
use rnngym_gyms::{check_gym, Gym, GymSpec, Shape, Split, Step};

/// Bytes the stream reader takes per chunk (gyms/src/text/stream.rs); files here are larger so
/// characters straddle chunk boundaries.
const CHUNK: usize = 1 << 20;

fn spec(path: &str, base: &Path, options: &[(&str, toml::Value)]) -> GymSpec {
    let mut s = GymSpec::new("text-v1");
    s.path = Some(path.to_string());
    s.base_dir = base.to_path_buf();
    s.val_fraction = 0.1;
    for (k, v) in options {
        s.options.insert(k.to_string(), v.clone());
    }
    s
}

fn mapped(path: &str, base: &Path) -> TextGym {
    let gym = TextGym::from_spec(&spec(path, base, &[("in_memory_mb", 0.into())])).unwrap();
    assert!(gym.is_mapped());
    gym
}

fn random_text(len: usize, alphabet: &[char], seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
        .collect()
}

fn all_tokens(gym: &TextGym) -> Vec<u32> {
    [gym.tokens(Split::Train), gym.tokens(Split::Val)].concat()
}

fn episode(gym: &mut TextGym, split: Split, seed: u64, shape: Shape) -> Vec<Step> {
    gym.reset(split, seed, shape).unwrap();
    let mut steps = Vec::new();
    loop {
        let s = gym.step().unwrap();
        let done = s.episode_done;
        steps.push(s);
        if done {
            return steps;
        }
    }
}

#[test]
fn mapped_cache_serves_the_same_windows_as_the_heap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("c");
    fs::create_dir(&d).unwrap();
    let alphabet: Vec<char> = "abc é☃😀\n".chars().collect();
    let parts = [
        random_text(CHUNK + 5, &alphabet, 1),
        random_text(999, &alphabet, 2),
        random_text(70_000, &alphabet, 3),
    ];
    for (i, p) in parts.iter().enumerate() {
        fs::write(d.join(format!("{i}.txt")), p).unwrap();
    }
    let text = parts.concat();
    let mut heap = TextGym::from_spec(&spec("c", dir.path(), &[])).unwrap();
    let mut map = mapped("c", dir.path());
    assert!(!heap.is_mapped());
    assert_eq!(map.char_codec(), heap.char_codec());
    for split in [Split::Train, Split::Val] {
        assert_eq!(map.tokens(split), heap.tokens(split));
        assert_eq!(map.token_count(split), heap.token_count(split));
    }
    assert_eq!(map.codec().render(&all_tokens(&map)), text);
    let n = text.chars().count();
    assert_eq!(map.token_count(Split::Val), n / 10);
    for (seed, shape) in [
        (0, Shape { batch: 4, seq: 64 }),
        (7, Shape { batch: 3, seq: 5 }),
    ] {
        for split in [Split::Train, Split::Val] {
            assert_eq!(
                episode(&mut map, split, seed, shape),
                episode(&mut heap, split, seed, shape)
            );
        }
    }
    check_gym(&mut map, Shape { batch: 8, seq: 32 }).unwrap();
}

#[test]
fn wide_vocabularies_use_wider_tokens_and_round_trip() {
    // 300 and 70 000 distinct characters: two- and four-byte tokens.
    for count in [300u32, 70_000] {
        let alphabet: Vec<char> = (0x4E00..0x4E00 + count)
            .chain(0x20000..0x20000 + count.saturating_sub(20_000))
            .filter_map(char::from_u32)
            .collect();
        let mut text: String = alphabet.iter().collect();
        text.push_str(&random_text(20_000, &alphabet, u64::from(count)));
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("t.txt"), &text).unwrap();
        let map = mapped("t.txt", dir.path());
        assert_eq!(map.codec().vocab_size(), alphabet.len());
        assert_eq!(map.codec().render(&all_tokens(&map)), text);
        let heap = TextGym::from_text(&text, 0.1).unwrap();
        assert_eq!(all_tokens(&map), all_tokens(&heap));
    }
}

#[test]
fn invalid_utf8_names_the_file_and_byte_offset_past_the_first_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = "é".repeat(CHUNK).into_bytes();
    let bad = bytes.len() - 8; // the first byte of an é
    bytes[bad] = 0xFF;
    fs::write(dir.path().join("bad.txt"), &bytes).unwrap();
    let e = TextGym::from_spec(&spec("bad.txt", dir.path(), &[]))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("bad.txt"), "{e}");
    assert!(
        e.contains(&format!("byte 0xff at byte offset {bad}")),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");

    // A multi-byte character cut off by the end of the file, after a byte-order mark.
    let mut cut = b"\xEF\xBB\xBFab".to_vec();
    cut.extend_from_slice(&"☃".as_bytes()[..2]);
    fs::write(dir.path().join("cut.txt"), &cut).unwrap();
    let e = TextGym::from_spec(&spec("cut.txt", dir.path(), &[]))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cut.txt") && e.contains("byte 0xe2 at byte offset 5"),
        "{e}"
    );
}

#[test]
fn byte_order_marks_are_dropped_per_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), "\u{FEFF}ab").unwrap();
    fs::write(dir.path().join("b.txt"), "\u{FEFF}ba\u{FEFF}").unwrap();
    let gym = mapped("*.txt", dir.path());
    assert_eq!(gym.codec().render(&all_tokens(&gym)), "abba\u{FEFF}");
}

#[test]
fn streamed_lowercase_matches_whole_text_lowercase() {
    // Final sigma depends on the next character: put Σ at chunk and file boundaries.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("c");
    fs::create_dir(&d).unwrap();
    let alphabet: Vec<char> = "ΑΣΒ AB\nİ".chars().collect();
    let mut first = random_text(CHUNK - 3, &alphabet, 9);
    first.push_str("ΟΣ");
    let parts = [first, "Α ΣΑΣ\nΣ".to_string(), "ΑΣ".to_string()];
    for (i, p) in parts.iter().enumerate() {
        fs::write(d.join(format!("{i}.txt")), p).unwrap();
    }
    let lower = true.into();
    let gym = TextGym::from_spec(&spec("c", dir.path(), &[("lowercase", lower)])).unwrap();
    let expected = parts.concat().to_lowercase();
    assert!(expected.contains('ς') && expected.contains('σ'));
    assert_eq!(gym.codec().render(&all_tokens(&gym)), expected);
}

#[test]
fn option_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("t.txt"), "hello world").unwrap();
    let err = |options: &[(&str, toml::Value)]| {
        TextGym::from_spec(&spec("t.txt", dir.path(), options))
            .err()
            .unwrap()
            .to_string()
    };
    let e = err(&[("in_memory_mb", (-1).into())]);
    assert!(
        e.contains("gym.options.in_memory_mb") && e.contains(">= 0"),
        "{e}"
    );
    let e = err(&[("cache_dir", 3.into())]);
    assert!(e.contains("gym.options.cache_dir"), "{e}");
    let e = err(&[("nope", 3.into())]);
    assert!(
        e.contains("known: lowercase, in_memory_mb, cache_dir"),
        "{e}"
    );
    let e = err(&[
        ("in_memory_mb", 0.into()),
        ("cache_dir", "missing/dir".into()),
    ]);
    assert!(
        e.contains("missing/dir") && e.contains("token cache"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}

/// `RssFile` of this process in kB: the mapped file pages it holds.
#[cfg(target_os = "linux")]
fn rss_file_kb() -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("RssFile:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_episode_over_a_mapped_corpus_keeps_few_pages_resident() {
    const MB: usize = 128;
    let dir = tempfile::tempdir().unwrap();
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz \n".chars().collect();
    let block = random_text(MB << 14, &alphabet, 5);
    let mut f = fs::File::create(dir.path().join("big.txt")).unwrap();
    for _ in 0..64 {
        std::io::Write::write_all(&mut f, block.as_bytes()).unwrap();
    }
    drop(f);
    let mut gym = mapped("big.txt", dir.path());
    let before = rss_file_kb();
    // Few long lanes: the kernel maps file pages in folios (up to megabytes), so many lanes a
    // short distance apart would keep most of a small corpus mapped whatever we release.
    gym.reset(
        Split::Train,
        0,
        Shape {
            batch: 4,
            seq: 4096,
        },
    )
    .unwrap();
    while !gym.step().unwrap().episode_done {}
    let grown_mb = rss_file_kb().saturating_sub(before) / 1024;
    eprintln!("RssFile grew by {grown_mb} MB over a {MB} MB mapped corpus");
    // Without releasing pages the whole cache would now be resident.
    assert!(
        grown_mb < MB as u64 / 2,
        "RssFile grew by {grown_mb} MB over one episode"
    );
}
