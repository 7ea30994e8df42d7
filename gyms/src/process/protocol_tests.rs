use std::io::Cursor;

use super::*;

/// A `WIND` payload as a well-behaved gym writes it.
fn window(b: u32, t: u32, width: u8, done: u8, flags: &[u8], xs: &[u32], ys: &[u32]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&b.to_le_bytes());
    p.extend_from_slice(&t.to_le_bytes());
    p.extend_from_slice(&[width, done, 0, 0]);
    p.extend_from_slice(flags);
    for x in xs.iter().chain(ys) {
        p.extend_from_slice(&x.to_le_bytes()[..width as usize]);
    }
    p
}

const SHAPE: Shape = Shape { batch: 2, seq: 3 };

#[test]
fn frames_round_trip_and_end_cleanly() {
    let mut bytes = encode(Tag::Hello, b"{}");
    bytes.extend(encode(Tag::Step, &[]));
    let mut r = Cursor::new(bytes);
    let f = read_frame(&mut r).unwrap().unwrap();
    assert_eq!((f.tag, f.payload.as_slice()), (Tag::Hello, &b"{}"[..]));
    let f = read_frame(&mut r).unwrap().unwrap();
    assert_eq!((f.tag, f.payload.len()), (Tag::Step, 0));
    assert_eq!(read_frame(&mut r).unwrap(), None);
    assert_eq!(Tag::Bye.name(), "BYE!");
}

#[test]
fn garbage_truncation_and_huge_lengths_are_named() {
    let cases: [(Vec<u8>, &str); 4] = [
        (b"hello world\n".to_vec(), "wrote \"hello wo\" on stdout"),
        (
            b"WIND\x05".to_vec(),
            "closed its stdout inside a WIND frame header",
        ),
        (
            [&b"INFO"[..], &20u32.to_le_bytes(), b"abc"].concat(),
            "inside a INFO frame (3 of 20",
        ),
        (
            [&b"WIND"[..], &u32::MAX.to_le_bytes()].concat(),
            "more than the limit",
        ),
    ];
    for (bytes, needle) in cases {
        let e = read_frame(&mut Cursor::new(bytes)).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}

#[test]
fn hellos() {
    let v: Value = serde_json::from_slice(&hello(Some("d.txt"), 0.1, &json!({"k": 1}))).unwrap();
    assert_eq!(v["protocol"], PROTOCOL);
    assert_eq!(v["version"], 1);
    assert_eq!(v["path"], "d.txt");
    assert_eq!(v["config"]["k"], 1);
    let h = parse_hello(br#"{"protocol":"rnngym-gym","version":1,"codec":{"kind":"opaque","vocab_size":3},"future":1}"#)
        .unwrap();
    assert_eq!(h.codec["vocab_size"], 3);
    assert_eq!(h.name, None);
    for (text, needle) in [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        (r#"{"version":1,"codec":{}}"#, "expected \"rnngym-gym\""),
        (
            r#"{"protocol":"rnngym-gym","version":2,"codec":{}}"#,
            "version 2",
        ),
        (
            r#"{"protocol":"rnngym-gym","codec":{}}"#,
            "without an integer 'version'",
        ),
        (
            r#"{"protocol":"rnngym-gym","version":1}"#,
            "without a 'codec'",
        ),
        (
            r#"{"protocol":"rnngym-gym","version":1,"codec":{},"name":3}"#,
            "'name'",
        ),
    ] {
        let e = parse_hello(text.as_bytes()).unwrap_err().to_string();
        assert!(e.contains(needle), "{text}: {e}");
    }
}

#[test]
fn reset_and_info_layouts() {
    let p = reset(Split::Val, 0x0102_0304_0506_0708, SHAPE).unwrap();
    assert_eq!(p.len(), 20);
    assert_eq!(&p[..8], &0x0102_0304_0506_0708u64.to_le_bytes());
    assert_eq!((u32_at(&p, 8), u32_at(&p, 12), u32_at(&p, 16)), (2, 3, 1));
    let mut info = 7u64.to_le_bytes().to_vec();
    info.extend(100u64.to_le_bytes());
    info.extend(b"train lanes");
    let i = parse_info(&info).unwrap();
    assert_eq!(
        (i.windows, i.tokens, i.name.as_str()),
        (Some(7), 100, "train lanes")
    );
    info[..8].copy_from_slice(&UNKNOWN_WINDOWS.to_le_bytes());
    assert_eq!(parse_info(&info).unwrap().windows, None);
    assert!(parse_info(&info[..10]).is_err());
    let mut fail = FAIL_TOO_SMALL.to_le_bytes().to_vec();
    fail.extend(b" too short \n");
    assert_eq!(parse_fail(&fail).unwrap(), (1, "too short".to_string()));
    assert!(parse_fail(b"ab").is_err());
}

#[test]
fn windows_decode_at_every_width() {
    let xs = [0, 1, 2, 3, 4, 5];
    let ys = [1, 2, 3, 4, 5, 6];
    for width in [1, 2, 4] {
        let p = window(2, 3, width, 1, &[1, 0], &xs, &ys);
        let s = parse_window(&p, SHAPE, 7).unwrap();
        assert_eq!(s.inputs, xs);
        assert_eq!(s.targets, ys);
        assert_eq!(s.reset, [true, false]);
        assert!(s.episode_done);
    }
    let big = [70_000, 1, 2, 3, 4, 5];
    let s = parse_window(&window(2, 3, 4, 0, &[1, 1], &big, &ys), SHAPE, 70_001).unwrap();
    assert_eq!(s.inputs[0], 70_000);
}

#[test]
fn bad_windows_say_what_is_wrong() {
    let xs = [0, 1, 2, 3, 4, 5];
    let ys = [1, 2, 3, 4, 5, 6];
    let good = window(2, 3, 1, 0, &[1, 1], &xs, &ys);
    let mut truncated = good.clone();
    truncated.pop();
    let mut reserved = good.clone();
    reserved[10] = 9;
    let cases: Vec<(Vec<u8>, usize, &str)> = vec![
        (good[..5].to_vec(), 7, "at least 12"),
        (
            window(3, 3, 1, 0, &[1, 1, 1], &[0; 9], &[0; 9]),
            7,
            "3 lanes × 3 steps; asked for 2 lanes × 3 steps",
        ),
        (window(2, 3, 3, 0, &[1, 1], &xs, &ys), 7, "token width 3"),
        (
            window(2, 3, 1, 2, &[1, 1], &xs, &ys),
            7,
            "episode_done byte 2",
        ),
        (reserved, 7, "reserved bytes"),
        (truncated, 7, "take 26"),
        (
            window(2, 3, 1, 0, &[1, 2], &xs, &ys),
            7,
            "reset flag 2 for lane 1",
        ),
        (
            good,
            6,
            "targets[5] (lane 1, t 2) = 6, outside the vocabulary 0..6",
        ),
    ];
    for (p, vocab, needle) in cases {
        let e = parse_window(&p, SHAPE, vocab).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle}: {e}");
    }
}
