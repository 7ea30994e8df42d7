//! `DeviceChoice`: where the model runs, parsed from `model.device`.

/// Where the model runs, parsed from `model.device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA device 0 when available, else the CPU.
    Auto,
    /// The CPU backend.
    Cpu,
    /// The CUDA device with this ordinal.
    Cuda(usize),
}

impl DeviceChoice {
    /// Parses "auto", "cpu", "cuda" or "cuda:N"; None for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(DeviceChoice::Auto),
            "cpu" => Some(DeviceChoice::Cpu),
            "cuda" => Some(DeviceChoice::Cuda(0)),
            _ => {
                let n = s.strip_prefix("cuda:")?;
                // usize::from_str accepts a leading '+', which we do not want to document.
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                n.parse().ok().map(DeviceChoice::Cuda)
            }
        }
    }
}
