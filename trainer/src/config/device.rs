//! `DeviceChoice`: where the model runs, the typed value of `model.device`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where the model runs: the value of `model.device`, written `"auto"`, `"cpu"`, `"cuda"` or
/// `"cuda:N"` (in TOML, `--set` and `--device` alike). A bad value is refused when the config
/// is parsed, so every `DeviceChoice` names a device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// CUDA device 0 when available, else the CPU.
    #[default]
    Auto,
    /// The CPU backend.
    Cpu,
    /// A CUDA device: `Some(n)` for `"cuda:N"`, `None` for plain `"cuda"` (device 0). The two
    /// are kept apart so that a saved config prints back what the user wrote.
    Cuda(Option<usize>),
}

impl DeviceChoice {
    /// The CUDA device that `"cuda"` names and that `"auto"` tries.
    pub const DEFAULT_CUDA: usize = 0;

    /// The CUDA ordinal this choice requires (`"cuda"` is [`Self::DEFAULT_CUDA`]); None for
    /// Auto and Cpu.
    pub fn cuda_ordinal(self) -> Option<usize> {
        match self {
            DeviceChoice::Cuda(n) => Some(n.unwrap_or(Self::DEFAULT_CUDA)),
            DeviceChoice::Auto | DeviceChoice::Cpu => None,
        }
    }
}

/// A string that names no device; its message says what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\", got {got:?}")]
pub struct ParseDeviceError {
    /// The string as given.
    pub got: String,
}

impl FromStr for DeviceChoice {
    type Err = ParseDeviceError;

    /// Parses "auto", "cpu", "cuda" or "cuda:N" (N in decimal digits only).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseDeviceError { got: s.to_string() };
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(None)),
            _ => {
                let n = s.strip_prefix("cuda:").ok_or_else(bad)?;
                // usize::from_str accepts a leading '+', which we do not want to document.
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                n.parse()
                    .map(|n| DeviceChoice::Cuda(Some(n)))
                    .map_err(|_| bad())
            }
        }
    }
}

impl fmt::Display for DeviceChoice {
    /// The config spelling: `auto`, `cpu`, `cuda` or `cuda:N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(None) => f.write_str("cuda"),
            DeviceChoice::Cuda(Some(n)) => write!(f, "cuda:{n}"),
        }
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = ParseDeviceError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}
