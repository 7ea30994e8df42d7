//! `WavError`: why WAV bytes could not become mono samples, without the file name (the
//! caller that knows the file adds it).

/// Why a WAV held in memory could not be decoded, mixed down or resampled.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// Not a well-formed WAV file (bad header, truncated chunk, missing `fmt ` or `data`).
    #[error("{0}")]
    Malformed(String),
    /// A well-formed WAV in an encoding this decoder does not read (ADPCM, RF64, 12-bit, ...).
    #[error("{0}")]
    Unsupported(String),
    /// hound could not decode the (already validated) samples.
    #[error("hound: {0}")]
    Hound(hound::Error),
    /// The asked-for channel is not in the file.
    #[error(
        "gym.options.channel = {channel} but the file has {channels} channel(s) (0..{})",
        channels.saturating_sub(1)
    )]
    NoSuchChannel {
        /// The channel asked for.
        channel: usize,
        /// Channels in the file.
        channels: usize,
    },
    /// The sample rates cannot be converted.
    #[error("{0}")]
    Resample(String),
}
