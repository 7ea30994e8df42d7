//! `[gym.options]` of `process-v1`: the child's command line, its reply timeout, its
//! environment, and a free-form table handed to the child in the handshake.

use std::collections::BTreeMap;
use std::time::Duration;

use super::ID;
use crate::GymError;

/// Default for `gym.options.timeout_s`: long enough for a gym that loads data at start-up,
/// short enough that a hung child does not stall a run unnoticed.
pub const DEFAULT_TIMEOUT_S: f64 = 30.0;

/// Longest accepted `timeout_s` (a day): beyond it a typo is likelier than intent.
const MAX_TIMEOUT_S: f64 = 86_400.0;

const KNOWN: &str = "command, cwd, timeout_s, env, config, prefetch";

/// The options of the process gym.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessOptions {
    /// Program and arguments of the child (required, non-empty). A relative program path
    /// with a `/` in it resolves against the config file's folder, as the child's working
    /// directory does.
    pub command: Vec<String>,
    /// `cwd`: the child's working directory (relative: against the config file's folder,
    /// which is the default). `rnngym train` writes it out absolute in the config it saves, so
    /// a run resumed without `--config` starts the child where it first ran.
    pub cwd: Option<String>,
    /// How long to wait for each reply (the handshake included) before the child counts as
    /// hung and is killed.
    pub timeout: Duration,
    /// Variables added to the child's environment.
    pub env: BTreeMap<String, String>,
    /// `[gym.options.config]`, passed to the child in the handshake as JSON (the gym's own
    /// options; rnngym does not look inside).
    pub config: serde_json::Value,
    /// Ask for the next window as soon as one arrives, so the child computes it while the
    /// trainer trains (default true). The requests the child sees are the same either way,
    /// except for one extra `step` before a `reset` that cuts an episode short.
    pub prefetch: bool,
}

impl ProcessOptions {
    /// Parses `[gym.options]`; unknown keys and bad values are errors naming the key.
    pub fn from_table(t: &toml::Table) -> Result<ProcessOptions, GymError> {
        let bad = |key: &str, want: &str, got: &toml::Value| {
            GymError::Config(format!("gym.options.{key}: expected {want}, got {got}"))
        };
        let mut command = None;
        let mut o = ProcessOptions {
            command: Vec::new(),
            cwd: None,
            timeout: Duration::from_secs_f64(DEFAULT_TIMEOUT_S),
            env: BTreeMap::new(),
            config: serde_json::Value::Object(Default::default()),
            prefetch: true,
        };
        for (key, v) in t {
            match key.as_str() {
                "command" => command = Some(parse_command(v)?),
                "cwd" => match v.as_str() {
                    Some(s) if !s.trim().is_empty() => o.cwd = Some(s.to_string()),
                    _ => return Err(bad(key, "a folder path", v)),
                },
                "timeout_s" => {
                    let s = v
                        .as_float()
                        .or_else(|| v.as_integer().map(|i| i as f64))
                        .filter(|s| *s > 0.0 && *s <= MAX_TIMEOUT_S)
                        .ok_or_else(|| bad(key, &format!("seconds in (0, {MAX_TIMEOUT_S}]"), v))?;
                    o.timeout = Duration::from_secs_f64(s);
                }
                "env" => {
                    let table = v
                        .as_table()
                        .ok_or_else(|| bad(key, "a table of strings", v))?;
                    for (name, value) in table {
                        let value = value
                            .as_str()
                            .ok_or_else(|| bad(&format!("env.{name}"), "a string", value))?;
                        if name.is_empty() || name.contains(['=', '\0']) {
                            return Err(GymError::Config(format!(
                                "gym.options.env: '{name}' is not a valid variable name"
                            )));
                        }
                        o.env.insert(name.clone(), value.to_string());
                    }
                }
                "config" => {
                    let table = v.as_table().ok_or_else(|| bad(key, "a table", v))?;
                    o.config = serde_json::to_value(table).map_err(|e| {
                        GymError::Config(format!("gym.options.config: cannot pass it on: {e}"))
                    })?;
                }
                "prefetch" => {
                    o.prefetch = v.as_bool().ok_or_else(|| bad(key, "true or false", v))?
                }
                _ => {
                    return Err(GymError::Config(format!(
                        "gym.options.{key}: unknown option for {ID} (known: {KNOWN})"
                    )));
                }
            }
        }
        o.command = command.ok_or_else(|| {
            GymError::Config(format!(
                "gym.options.command: missing; {ID} needs the child's command line, e.g. \
                 command = [\"python3\", \"my_gym.py\"]"
            ))
        })?;
        Ok(o)
    }

    /// The command line as one string, for messages.
    pub fn command_line(&self) -> String {
        self.command.join(" ")
    }
}

/// `command`: a non-empty array of non-empty strings.
fn parse_command(v: &toml::Value) -> Result<Vec<String>, GymError> {
    let bad = || {
        GymError::Config(format!(
            "gym.options.command: expected a non-empty array of strings such as \
             [\"python3\", \"my_gym.py\"], got {v}"
        ))
    };
    let items = v.as_array().filter(|a| !a.is_empty()).ok_or_else(bad)?;
    let words: Option<Vec<String>> = items
        .iter()
        .map(|i| i.as_str().map(str::to_string))
        .collect();
    let words = words.ok_or_else(bad)?;
    if words[0].is_empty() || words.iter().any(|w| w.contains('\0')) {
        return Err(bad());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ProcessOptions, GymError> {
        ProcessOptions::from_table(&s.parse::<toml::Table>().unwrap())
    }

    #[test]
    fn defaults_and_values() {
        let o = parse(r#"command = ["python3", "g.py"]"#).unwrap();
        assert_eq!(o.command, ["python3", "g.py"]);
        assert_eq!(o.timeout, Duration::from_secs(30));
        assert!(o.prefetch && o.env.is_empty());
        assert_eq!(o.command_line(), "python3 g.py");
        let o = parse(
            "command = [\"x\"]\ntimeout_s = 2\nprefetch = false\n[env]\nA = \"1\"\n\
             [config]\nwindows = 3\nname = \"n\"",
        )
        .unwrap();
        assert_eq!(o.timeout, Duration::from_secs(2));
        assert!(!o.prefetch);
        assert_eq!(o.env["A"], "1");
        assert_eq!(o.config, serde_json::json!({"windows": 3, "name": "n"}));
    }

    #[test]
    fn errors_name_the_key() {
        for (text, key) in [
            ("", "gym.options.command: missing"),
            ("command = []", "gym.options.command: expected"),
            (
                "command = \"python3 g.py\"",
                "gym.options.command: expected",
            ),
            ("command = [\"\"]", "gym.options.command: expected"),
            ("command = [1]", "gym.options.command: expected"),
            ("command = [\"x\"]\ntimeout_s = 0", "gym.options.timeout_s"),
            (
                "command = [\"x\"]\ntimeout_s = \"1\"",
                "gym.options.timeout_s",
            ),
            ("command = [\"x\"]\nenv = 1", "gym.options.env"),
            ("command = [\"x\"]\n[env]\nA = 1", "gym.options.env.A"),
            ("command = [\"x\"]\nconfig = 1", "gym.options.config"),
            ("command = [\"x\"]\nprefetch = 1", "gym.options.prefetch"),
            (
                "command = [\"x\"]\ncomand = 1",
                "gym.options.comand: unknown option",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text:?}: {e}");
        }
    }
}
