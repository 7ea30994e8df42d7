//! The `process-v1` wire format (docs/GYM_PROTOCOL.md): frames of an 8-byte header (a 4-byte
//! ASCII tag and a little-endian u32 payload length) and a payload. Pure encoding and
//! decoding; every decode checks what it reads and says what is wrong in a [`ProtocolError`].

use std::io::{self, Read};

use serde_json::{json, Value};

use crate::{EpisodeInfo, Shape, Split, Step};

/// The protocol's name, sent and expected in both hellos.
pub const PROTOCOL: &str = "rnngym-gym";
/// The protocol version this parent speaks.
pub const VERSION: u64 = 1;
/// Bytes in a frame header.
pub const HEADER: usize = 8;
/// Largest payload accepted (a window of 8 M tokens per side at 4 bytes a token, and then
/// some); a larger announced length means the stream is garbage.
pub const MAX_PAYLOAD: usize = 1 << 30;
/// Bytes before the reset flags in a `WIND` payload.
const WINDOW_HEAD: usize = 12;
/// `windows` in an `INFO` payload when the episode's length is not known in advance.
pub const UNKNOWN_WINDOWS: u64 = u64::MAX;
/// `FAIL` code: the split is too short for one window of the requested shape.
pub const FAIL_TOO_SMALL: u32 = 1;

/// A frame's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// Both directions: the handshake (JSON payload), the trainer's first.
    Hello,
    /// Trainer → gym: start an episode (20 bytes).
    Reset,
    /// Gym → trainer: the episode started (reply to `RSET`).
    Info,
    /// Trainer → gym: the next window (empty payload).
    Step,
    /// Gym → trainer: one window (reply to `STEP`).
    Window,
    /// Gym → trainer: the request failed (code and text); the gym keeps serving.
    Fail,
    /// Trainer → gym: exit now, no reply (empty payload).
    Bye,
}

impl Tag {
    const ALL: [Tag; 7] = [
        Tag::Hello,
        Tag::Reset,
        Tag::Info,
        Tag::Step,
        Tag::Window,
        Tag::Fail,
        Tag::Bye,
    ];

    /// The four ASCII bytes that open the frame.
    pub fn bytes(self) -> [u8; 4] {
        *match self {
            Tag::Hello => b"HELO",
            Tag::Reset => b"RSET",
            Tag::Info => b"INFO",
            Tag::Step => b"STEP",
            Tag::Window => b"WIND",
            Tag::Fail => b"FAIL",
            Tag::Bye => b"BYE!",
        }
    }

    /// The tag as text, for messages.
    pub fn name(self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    fn from_bytes(b: [u8; 4]) -> Option<Tag> {
        Tag::ALL.into_iter().find(|t| t.bytes() == b)
    }
}

/// What is wrong with the bytes the child sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

fn fault(msg: impl Into<String>) -> ProtocolError {
    ProtocolError(msg.into())
}

/// One frame as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Its type.
    pub tag: Tag,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// The bytes of a frame.
pub fn encode(tag: Tag, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&tag.bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads one frame; `Ok(None)` at end of stream on a frame boundary.
pub fn read_frame(r: &mut impl Read) -> Result<Option<Frame>, ProtocolError> {
    let mut head = [0u8; HEADER];
    let got = read_full(r, &mut head)?;
    if got == 0 {
        return Ok(None);
    }
    let tag_bytes = [head[0], head[1], head[2], head[3]];
    let Some(tag) = Tag::from_bytes(tag_bytes) else {
        return Err(fault(format!(
            "wrote \"{}\" on stdout, which is not a protocol frame (stdout carries the protocol: \
             print to stderr)",
            head[..got].escape_ascii()
        )));
    };
    if got < HEADER {
        return Err(fault(format!(
            "closed its stdout inside a {} frame header ({got} of {HEADER} bytes)",
            tag.name()
        )));
    }
    let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(fault(format!(
            "announced a {} frame of {len} bytes, more than the limit of {MAX_PAYLOAD}",
            tag.name()
        )));
    }
    let mut payload = vec![0u8; len];
    let n = read_full(r, &mut payload)?;
    if n < len {
        return Err(fault(format!(
            "closed its stdout inside a {} frame ({n} of {len} payload bytes)",
            tag.name()
        )));
    }
    Ok(Some(Frame { tag, payload }))
}

/// Fills `buf` as far as the stream goes; the count read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, ProtocolError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fault(format!("left its stdout unreadable: {e}"))),
        }
    }
    Ok(n)
}

/// The trainer's `HELO` payload: protocol, version, and what the gym is configured with.
pub fn hello(path: Option<&str>, val_fraction: f64, config: &Value) -> Vec<u8> {
    let v = json!({
        "protocol": PROTOCOL,
        "version": VERSION,
        "path": path,
        "val_fraction": val_fraction,
        "config": config,
    });
    v.to_string().into_bytes()
}

/// What the gym's `HELO` declares.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildHello {
    /// The codec, in the form `Codec::spec` produces.
    pub codec: Value,
    /// The gym's name for itself, if it gave one.
    pub name: Option<String>,
}

/// Decodes the gym's `HELO` payload; unknown keys are ignored (later versions add them).
pub fn parse_hello(payload: &[u8]) -> Result<ChildHello, ProtocolError> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| fault(format!("sent a HELO that is not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| fault(format!("sent a HELO that is not a JSON object: {v}")))?;
    match obj.get("protocol").and_then(Value::as_str) {
        Some(PROTOCOL) => {}
        other => {
            return Err(fault(format!(
                "sent a HELO naming protocol {other:?}, expected \"{PROTOCOL}\""
            )))
        }
    }
    match obj.get("version").and_then(Value::as_u64) {
        Some(VERSION) => {}
        Some(v) => {
            return Err(fault(format!(
                "speaks protocol version {v}; this rnngym speaks version {VERSION}"
            )))
        }
        None => return Err(fault("sent a HELO without an integer 'version'")),
    }
    let codec = obj
        .get("codec")
        .cloned()
        .ok_or_else(|| fault("sent a HELO without a 'codec'"))?;
    let name = match obj.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(fault(format!(
                "sent a HELO whose 'name' is not a string: {other}"
            )))
        }
    };
    Ok(ChildHello { codec, name })
}

/// The `RSET` payload: seed u64, batch u32, seq u32, split u32 (0 train, 1 validation).
pub fn reset(split: Split, seed: u64, shape: Shape) -> Result<Vec<u8>, ProtocolError> {
    let narrow = |what: &str, n: usize| {
        u32::try_from(n).map_err(|_| fault(format!("{what} {n} does not fit the protocol's u32")))
    };
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&seed.to_le_bytes());
    out.extend_from_slice(&narrow("batch", shape.batch)?.to_le_bytes());
    out.extend_from_slice(&narrow("seq", shape.seq)?.to_le_bytes());
    let split: u32 = match split {
        Split::Train => 0,
        Split::Val => 1,
    };
    out.extend_from_slice(&split.to_le_bytes());
    Ok(out)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(std::array::from_fn(|i| b[at + i]))
}

/// Decodes an `INFO` payload: windows u64 ([`UNKNOWN_WINDOWS`] when not known), tokens u64,
/// then the episode's name as UTF-8.
pub fn parse_info(payload: &[u8]) -> Result<EpisodeInfo, ProtocolError> {
    if payload.len() < 16 {
        return Err(fault(format!(
            "sent an INFO payload of {} bytes; at least 16 expected",
            payload.len()
        )));
    }
    let windows = match u64_at(payload, 0) {
        UNKNOWN_WINDOWS => None,
        w => Some(
            usize::try_from(w).map_err(|_| fault(format!("sent INFO windows = {w}, too large")))?,
        ),
    };
    let tokens = u64_at(payload, 8);
    let tokens = usize::try_from(tokens)
        .map_err(|_| fault(format!("sent INFO tokens = {tokens}, too large")))?;
    let name = std::str::from_utf8(&payload[16..])
        .map_err(|_| fault("sent an INFO name that is not UTF-8"))?
        .to_string();
    Ok(EpisodeInfo {
        name,
        windows,
        tokens,
    })
}

/// Decodes a `FAIL` payload: code u32 (0: the gym cannot serve the request; [`FAIL_TOO_SMALL`];
/// other codes read as 0), then the message as UTF-8 (invalid bytes replaced).
pub fn parse_fail(payload: &[u8]) -> Result<(u32, String), ProtocolError> {
    if payload.len() < 4 {
        return Err(fault(format!(
            "sent a FAIL payload of {} bytes; at least 4 expected",
            payload.len()
        )));
    }
    let text = String::from_utf8_lossy(&payload[4..]).trim().to_string();
    Ok((u32_at(payload, 0), text))
}

/// Decodes a `WIND` payload against the shape asked for and the vocabulary: batch u32, seq
/// u32, width u8 (bytes per token: 1, 2 or 4), episode_done u8, reserved u16 = 0, then B
/// reset flags (one byte each, 0 or 1), B×T inputs and B×T targets, lane-major, each token a
/// little-endian unsigned integer of `width` bytes.
pub fn parse_window(payload: &[u8], shape: Shape, vocab: usize) -> Result<Step, ProtocolError> {
    if payload.len() < WINDOW_HEAD {
        return Err(fault(format!(
            "sent a WIND payload of {} bytes; at least {WINDOW_HEAD} expected",
            payload.len()
        )));
    }
    let (b, t) = (u32_at(payload, 0) as usize, u32_at(payload, 4) as usize);
    let (width, done, reserved) = (payload[8] as usize, payload[9], &payload[10..12]);
    if (b, t) != (shape.batch, shape.seq) {
        return Err(fault(format!(
            "sent a window of {b} lanes × {t} steps; asked for {} lanes × {} steps",
            shape.batch, shape.seq
        )));
    }
    if ![1, 2, 4].contains(&width) {
        return Err(fault(format!(
            "sent a window with token width {width}; expected 1, 2 or 4 bytes"
        )));
    }
    if done > 1 || reserved != [0, 0] {
        return Err(fault(format!(
            "sent a window with episode_done byte {done} and reserved bytes {reserved:?}; \
             expected 0 or 1 and [0, 0]"
        )));
    }
    let n = b * t; // fits: the caller checked the shape's token count
    let expected = n
        .checked_mul(2 * width)
        .and_then(|x| x.checked_add(WINDOW_HEAD + b))
        .ok_or_else(|| fault("sent a window whose size overflows"))?;
    if payload.len() != expected {
        return Err(fault(format!(
            "sent a WIND payload of {} bytes; {b} lanes × {t} steps at {width} byte(s) a token \
             take {expected}",
            payload.len()
        )));
    }
    let flags = &payload[WINDOW_HEAD..WINDOW_HEAD + b];
    if let Some(i) = flags.iter().position(|&f| f > 1) {
        return Err(fault(format!(
            "sent reset flag {} for lane {i}; expected 0 or 1",
            flags[i]
        )));
    }
    let body = &payload[WINDOW_HEAD + b..];
    let (xs, ys) = body.split_at(n * width);
    let inputs = tokens(xs, width);
    let targets = tokens(ys, width);
    for (what, toks) in [("inputs", &inputs), ("targets", &targets)] {
        if let Some(i) = toks.iter().position(|&x| x as usize >= vocab) {
            return Err(fault(format!(
                "sent {what}[{i}] (lane {}, t {}) = {}, outside the vocabulary 0..{vocab}",
                i / t,
                i % t,
                toks[i]
            )));
        }
    }
    Ok(Step {
        inputs,
        targets,
        reset: flags.iter().map(|&f| f == 1).collect(),
        episode_done: done == 1,
    })
}

/// Little-endian tokens of `width` bytes.
fn tokens(bytes: &[u8], width: usize) -> Vec<u32> {
    match width {
        1 => bytes.iter().map(|&x| u32::from(x)).collect(),
        2 => bytes
            .chunks_exact(2)
            .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        _ => bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    }
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
