//! WAV decoding. Our own RIFF chunk walk (bounded by the real file size, never by a header's
//! length field) validates the header, finds `fmt ` and `data`, and names what is unsupported;
//! `hound` then decodes the PCM 8/16/24/32-bit and 32-bit float samples from a sanitized copy
//! (plain 16-byte `fmt `, only the whole frames that are really present). G.711 mu-law / A-law,
//! 64-bit float and big-endian RIFX, which hound cannot read, are decoded here in a few lines.

use std::io::{Cursor, Read};
use std::path::Path;

use super::error::WavError;
use crate::GymError;

/// Files larger than this are refused before anything is read (a WAV cannot exceed 4 GiB).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Highest sample rate accepted in a file's header (twice the fastest common studio rate).
pub const MAX_FILE_RATE: u32 = 768_000;

/// Decoded audio at its native rate: interleaved samples scaled to [-1, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Channels per frame.
    pub channels: u16,
    /// Interleaved samples, `frames × channels`, in [-1, 1].
    pub samples: Vec<f32>,
    /// Non-fatal problems (truncated data, a dropped partial frame), one line each.
    pub warnings: Vec<String>,
}

impl Audio {
    /// Frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate.max(1))
    }

    /// [`Audio::to_mono`] that gives up the audio: mono audio hands over its samples
    /// without a copy (the corpus loader keeps one file's samples once, not twice).
    pub fn into_mono(self, channel: Option<usize>) -> Result<Vec<f32>, WavError> {
        if self.channels == 1 && channel.is_none_or(|k| k == 0) {
            return Ok(self.samples);
        }
        self.to_mono(channel)
    }

    /// Mono samples: the mean of all channels (`channel = None`) or one channel.
    pub fn to_mono(&self, channel: Option<usize>) -> Result<Vec<f32>, WavError> {
        let c = usize::from(self.channels);
        match channel {
            Some(k) if k >= c => Err(WavError::NoSuchChannel {
                channel: k,
                channels: c,
            }),
            Some(k) => Ok(self.samples.iter().skip(k).step_by(c).copied().collect()),
            None if c == 1 => Ok(self.samples.clone()),
            None => Ok(self
                .samples
                .chunks_exact(c)
                .map(|f| (f.iter().map(|&x| f64::from(x)).sum::<f64>() / c as f64) as f32)
                .collect()),
        }
    }
}

/// Reads and decodes one WAV file; errors are one line naming the file and the reason.
pub fn read_wav(path: &Path) -> Result<Audio, GymError> {
    let err = |message: String| GymError::Io {
        path: path.display().to_string(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read file: {e}")))?;
    if !meta.is_file() {
        return Err(err("not a regular file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(err(format!(
            "file is {} bytes; wav-v1 reads files up to {MAX_FILE_BYTES} bytes, split it first",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read file: {e}")))?;
    decode_wav(&bytes).map_err(|e| err(e.to_string()))
}

/// The `fmt ` fields we use.
#[derive(Clone, Copy, Debug)]
struct Fmt {
    tag: u16,
    channels: u16,
    rate: u32,
    block_align: u16,
    bits: u16,
}

/// Decodes a whole WAV file held in memory; the error is the reason (without the file name).
pub fn decode_wav(bytes: &[u8]) -> Result<Audio, WavError> {
    if bytes.is_empty() {
        return Err(WavError::Malformed("empty file (0 bytes)".into()));
    }
    if bytes.len() < 12 {
        return Err(WavError::Malformed(format!(
            "not a WAV file: {} bytes is too short for a RIFF/WAVE header",
            bytes.len()
        )));
    }
    let big = match &bytes[0..4] {
        b"RIFF" => false,
        b"RIFX" => true,
        b"RF64" | b"BW64" => {
            return Err(WavError::Unsupported(
                "RF64/BW64 (64-bit RIFF) WAV is not supported; convert with \
                        `sox in.wav -e signed -b 16 out.wav`"
                    .into(),
            ))
        }
        _ => {
            return Err(WavError::Malformed(format!(
                "not a RIFF/WAVE file (starts with {})",
                show4(&bytes[0..4])
            )))
        }
    };
    if &bytes[8..12] != b"WAVE" {
        return Err(WavError::Malformed(format!(
            "RIFF file of type {} is not a WAVE file",
            show4(&bytes[8..12])
        )));
    }
    let mut warnings = Vec::new();
    let (fmt, data) = walk_chunks(bytes, big, &mut warnings)?;
    let fmt = fmt
        .ok_or_else(|| WavError::Malformed("no `fmt ` chunk before the end of the file".into()))?;
    let fmt = parse_fmt(fmt, big)?;
    let data =
        data.ok_or_else(|| WavError::Malformed("no `data` chunk: the file holds no audio".into()))?;
    let bits = fmt.bits;
    let kind = match fmt.tag {
        1 if matches!(bits, 8 | 16 | 24 | 32) => Kind::Hound,
        1 => {
            return Err(WavError::Unsupported(format!(
                "{bits}-bit integer PCM is not supported (8, 16, 24 or 32)"
            )))
        }
        3 if bits == 32 => Kind::Hound,
        3 if bits == 64 => Kind::F64,
        3 => {
            return Err(WavError::Unsupported(format!(
                "{bits}-bit float is not supported (32 or 64)"
            )))
        }
        6 | 7 if bits == 8 => {
            if fmt.tag == 6 {
                Kind::ALaw
            } else {
                Kind::MuLaw
            }
        }
        6 | 7 => {
            return Err(WavError::Malformed(format!(
                "G.711 with {bits} bits per sample is malformed (expected 8)"
            )))
        }
        tag => return Err(unsupported_tag(tag)),
    };
    let sample_bytes = usize::from(bits / 8);
    let frame = sample_bytes * usize::from(fmt.channels);
    if usize::from(fmt.block_align) != frame {
        return Err(WavError::Malformed(format!(
            "fmt block_align is {} but {} channel(s) × {bits} bits need {frame}",
            fmt.block_align, fmt.channels
        )));
    }
    let whole = data.len() / frame * frame;
    if whole < data.len() {
        warnings.push(format!(
            "dropped a trailing partial frame of {} byte(s)",
            data.len() - whole
        ));
    }
    let data = &data[..whole];
    if data.is_empty() {
        return Err(WavError::Malformed(
            "no audio samples (the data chunk is empty)".into(),
        ));
    }
    let mut samples = match kind {
        Kind::Hound => decode_with_hound(&fmt, data, big)?,
        Kind::F64 => data
            .chunks_exact(8)
            .map(|c| {
                let a: [u8; 8] = c.try_into().unwrap_or_default();
                let v = if big {
                    f64::from_be_bytes(a)
                } else {
                    f64::from_le_bytes(a)
                };
                v as f32
            })
            .collect(),
        Kind::MuLaw => data.iter().map(|&b| f32::from(ulaw(b)) / 32768.0).collect(),
        Kind::ALaw => data.iter().map(|&b| f32::from(alaw(b)) / 32768.0).collect(),
    };
    if let Some(i) = samples.iter().position(|x| !x.is_finite()) {
        return Err(WavError::Malformed(format!(
            "sample {i} is not a finite number"
        )));
    }
    // Float files can hold any finite value; past full scale it is clipping (or garbage), and
    // values near f32::MAX would overflow to infinity in the resampler's ringing (fuzz).
    let clipped = samples.iter().filter(|x| x.abs() > 1.0).count();
    if clipped > 0 {
        warnings.push(format!("clipped {clipped} float sample(s) outside [-1, 1]"));
        samples.iter_mut().for_each(|x| *x = x.clamp(-1.0, 1.0));
    }
    Ok(Audio {
        sample_rate: fmt.rate,
        channels: fmt.channels,
        samples,
        warnings,
    })
}

/// How the samples are decoded.
enum Kind {
    Hound,
    F64,
    MuLaw,
    ALaw,
}

fn show4(b: &[u8]) -> String {
    if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        format!("\"{}\"", String::from_utf8_lossy(b))
    } else {
        format!(
            "bytes {}",
            b.iter().map(|c| format!("{c:02x}")).collect::<String>()
        )
    }
}

fn u16_at(b: &[u8], at: usize, big: bool) -> u16 {
    let a = [b[at], b[at + 1]];
    if big {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

/// The bodies of the `fmt ` and `data` chunks, when found.
type Chunks<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// Walks the chunks after the 12-byte RIFF header and returns the bodies of the first `fmt `
/// and `data` chunks, cut at the real end of the file. Odd-sized chunks are followed by a pad
/// byte (tolerating writers that omit it).
fn walk_chunks<'a>(
    bytes: &'a [u8],
    big: bool,
    warnings: &mut Vec<String>,
) -> Result<Chunks<'a>, WavError> {
    let (mut fmt, mut data) = (None, None);
    let mut at = 12usize;
    while at + 8 <= bytes.len() && (fmt.is_none() || data.is_none()) {
        let id = &bytes[at..at + 4];
        let claimed = u32_at(bytes, at + 4, big) as usize;
        let body_start = at + 8;
        let present = claimed.min(bytes.len() - body_start);
        let body = &bytes[body_start..body_start + present];
        match id {
            b"fmt " if fmt.is_none() => {
                if present < claimed {
                    return Err(WavError::Malformed(format!(
                        "the fmt chunk claims {claimed} bytes but the file ends after {present}"
                    )));
                }
                fmt = Some(body);
            }
            b"data" if data.is_none() => {
                if present < claimed {
                    warnings.push(format!(
                        "the data chunk claims {claimed} bytes but only {present} are present \
                         (truncated file); decoding what is there"
                    ));
                }
                data = Some(body);
            }
            _ => {}
        }
        let end = body_start.saturating_add(claimed);
        let padded = end.saturating_add(claimed & 1);
        at = if claimed & 1 == 1 && !looks_like_chunk(bytes, padded) && looks_like_chunk(bytes, end)
        {
            end
        } else {
            padded
        };
    }
    Ok((fmt, data))
}

/// Whether a plausible chunk id (four printable ASCII bytes) starts at `at`.
fn looks_like_chunk(bytes: &[u8], at: usize) -> bool {
    bytes
        .get(at..at.saturating_add(4))
        .is_some_and(|id| id.len() == 4 && id.iter().all(|c| c.is_ascii_graphic() || *c == b' '))
}

fn parse_fmt(f: &[u8], big: bool) -> Result<Fmt, WavError> {
    if f.len() < 16 {
        return Err(WavError::Malformed(format!(
            "the fmt chunk is {} bytes; at least 16 needed",
            f.len()
        )));
    }
    let mut tag = u16_at(f, 0, big);
    if tag == 0xFFFE {
        if f.len() < 40 {
            return Err(WavError::Malformed(format!(
                "WAVE_FORMAT_EXTENSIBLE fmt chunk is {} bytes; 40 needed",
                f.len()
            )));
        }
        tag = u16_at(f, 24, big); // first two bytes of the sub-format GUID
    }
    let fmt = Fmt {
        tag,
        channels: u16_at(f, 2, big),
        rate: u32_at(f, 4, big),
        block_align: u16_at(f, 12, big),
        bits: u16_at(f, 14, big),
    };
    if fmt.channels == 0 {
        return Err(WavError::Malformed("the fmt chunk says 0 channels".into()));
    }
    if fmt.rate == 0 {
        return Err(WavError::Malformed(
            "the fmt chunk says the sample rate is 0 Hz".into(),
        ));
    }
    if fmt.rate > MAX_FILE_RATE {
        // Resampling cost and buffers grow with the rate, so a corrupt header could exhaust
        // memory; no real recording is this fast.
        return Err(WavError::Malformed(format!(
            "the fmt chunk says the sample rate is {} Hz; wav-v1 reads rates up to \
             {MAX_FILE_RATE} Hz (the header is probably corrupt)",
            fmt.rate
        )));
    }
    if fmt.bits == 0 && matches!(tag, 1 | 3 | 6 | 7) {
        return Err(WavError::Malformed(
            "the fmt chunk says 0 bits per sample".into(),
        ));
    }
    Ok(fmt)
}

fn unsupported_tag(tag: u16) -> WavError {
    let name = match tag {
        0x0002 => "MS ADPCM",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0050 => "MPEG audio",
        0x0055 => "MP3",
        0x0161..=0x0163 => "WMA",
        0x2000 => "AC-3",
        _ => "",
    };
    let what = if name.contains("ADPCM") {
        "ADPCM".to_string()
    } else if name.is_empty() {
        format!("format tag 0x{tag:04x}")
    } else {
        name.to_string()
    };
    let detail = if name.contains("ADPCM") {
        format!(" ({name})")
    } else {
        String::new()
    };
    WavError::Unsupported(format!(
        "{what}-encoded WAV{detail} is not supported; convert with `sox in.wav -e signed -b 16 \
         out.wav`"
    ))
}

/// Decodes integer PCM or 32-bit float with hound, from a plain-header copy of the frames.
fn decode_with_hound(fmt: &Fmt, data: &[u8], big: bool) -> Result<Vec<f32>, WavError> {
    let mut buf = Vec::with_capacity(44);
    let len = u32::try_from(data.len())
        .map_err(|_| WavError::Malformed("data chunk over 4 GiB".into()))?;
    buf.extend_from_slice(b"RIFF");
    buf.extend_from_slice(&(36 + len).to_le_bytes());
    buf.extend_from_slice(b"WAVEfmt ");
    buf.extend_from_slice(&16u32.to_le_bytes());
    buf.extend_from_slice(&fmt.tag.to_le_bytes());
    buf.extend_from_slice(&fmt.channels.to_le_bytes());
    buf.extend_from_slice(&fmt.rate.to_le_bytes());
    buf.extend_from_slice(&(fmt.rate.saturating_mul(u32::from(fmt.block_align))).to_le_bytes());
    buf.extend_from_slice(&fmt.block_align.to_le_bytes());
    buf.extend_from_slice(&fmt.bits.to_le_bytes());
    buf.extend_from_slice(b"data");
    buf.extend_from_slice(&len.to_le_bytes());
    // Little-endian frames are read in place after the header; big-endian ones are copied
    // once with their bytes swapped.
    let width = usize::from(fmt.bits / 8);
    let swapped: Vec<u8>;
    let frames: &[u8] = if big && width > 1 {
        swapped = data
            .chunks_exact(width)
            .flat_map(|s| s.iter().rev().copied())
            .collect();
        &swapped
    } else {
        data
    };
    let mut reader =
        hound::WavReader::new(Cursor::new(buf).chain(frames)).map_err(WavError::Hound)?;
    let n = reader.len() as usize; // our own header: the real frame count
    let mut out = Vec::with_capacity(n);
    if fmt.tag == 3 {
        for s in reader.samples::<f32>() {
            out.push(s.map_err(WavError::Hound)?);
        }
    } else {
        let scale = 0.5f64.powi(i32::from(fmt.bits) - 1);
        for s in reader.samples::<i32>() {
            out.push((f64::from(s.map_err(WavError::Hound)?) * scale) as f32);
        }
    }
    Ok(out)
}

/// G.711 mu-law byte → 16-bit linear.
fn ulaw(b: u8) -> i16 {
    let u = !b;
    let exponent = (u >> 4) & 7;
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// G.711 A-law byte → 16-bit linear.
fn alaw(b: u8) -> i16 {
    let a = b ^ 0x55;
    let exponent = i32::from((a >> 4) & 7);
    let mantissa = i32::from(a & 0x0F);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}
