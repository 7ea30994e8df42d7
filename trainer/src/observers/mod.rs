//! Observers that write a run directory's logs: `metrics.jsonl` and `samples.jsonl`
//! (formats in docs/FORMATS.md).

mod jsonl;
mod metrics;
mod samples;

pub use jsonl::{read_jsonl, JsonlFile};
pub use metrics::MetricsWriter;
pub use samples::SampleWriter;
