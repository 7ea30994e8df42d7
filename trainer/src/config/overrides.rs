//! `--set section.key=value` overrides, applied to the resolved config.

use super::located::{one_line, unknown_field};
use super::{Config, ConfigError};

impl Config {
    /// Applies one `section.key=value` override (not validated; `load_with_overrides` does).
    ///
    /// The value is parsed as TOML (`3`, `2e-3`, `true`, `"x"`), else taken as a bare string.
    /// A relative path it sets in `[gym]` is made absolute against the current directory.
    pub fn apply_override(&mut self, arg: &str) -> Result<(), ConfigError> {
        // Starting from the resolved config (not the file's text) means every known key already
        // exists, so `model.hidden.x=1` is caught as "not a table" and `[gym]` keeps its id.
        let table = toml::Table::try_from(&*self).map_err(ConfigError::Serialize)?;
        let mut cfg = apply_to_table(table, arg)?;
        cfg.gym.base_dir = std::mem::take(&mut self.gym.base_dir);
        // A path typed on the command line is relative to the current directory, not to the
        // config file's folder.
        if let Some((key, _)) = arg.split_once('=') {
            super::paths::resolve_from_command_line(&mut cfg, key);
        }
        *self = cfg;
        Ok(())
    }
}

/// Parses an override's value as TOML (numbers, booleans, quoted strings, arrays); anything
/// else is taken as a bare string so `--set model.device=cpu` needs no quoting.
fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) if t.len() == 1 => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        _ => toml::Value::String(raw.to_string()),
    }
}

/// Sets `arg` in `table` and re-deserializes; errors are attributed to `arg`.
fn apply_to_table(table: toml::Table, arg: &str) -> Result<Config, ConfigError> {
    let fail = |message: String| ConfigError::Override {
        arg: arg.to_string(),
        message,
    };
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| fail("expected section.key=value".to_string()))?;
    let path: Vec<&str> = key.trim().split('.').map(str::trim).collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(fail(format!("malformed key {:?}", key.trim())));
    }
    let raw = raw.trim();
    let typed = parse_value(raw);
    let first = try_set(table.clone(), &path, typed.clone());
    let result = match first {
        Ok(done) => Ok(done),
        // A value that happens to look like a number may be meant as a string (a path, a prime).
        Err(e) if !typed.is_str() => {
            try_set(table.clone(), &path, toml::Value::String(raw.to_string())).map_err(|_| e)
        }
        Err(e) => Err(e),
    };
    result.map_err(|e| fail(override_message(&e.to_string(), &path)))
}

/// Why one override could not be put into the config table.
#[derive(Debug, thiserror::Error)]
enum SetError {
    /// The key has no parts.
    #[error("empty key")]
    EmptyKey,
    /// A parent of the key holds a value, not a table (the dotted prefix).
    #[error("{0} is not a table")]
    NotATable(String),
    /// The table no longer deserializes as a `Config`: the parser's message, on one line.
    #[error("{0}")]
    Schema(String),
}

fn try_set(mut table: toml::Table, path: &[&str], value: toml::Value) -> Result<Config, SetError> {
    let (last, parents) = path.split_last().ok_or(SetError::EmptyKey)?;
    let mut cur = &mut table;
    for (i, p) in parents.iter().enumerate() {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| SetError::NotATable(path[..=i].join(".")))?;
    }
    cur.insert(last.to_string(), value);
    table
        .try_into()
        .map_err(|e: toml::de::Error| SetError::Schema(one_line(e.message())))
}

fn override_message(msg: &str, path: &[&str]) -> String {
    match unknown_field(msg) {
        Some((field, expected)) => {
            let n = path
                .iter()
                .position(|p| *p == field)
                .map_or(path.len(), |i| i + 1);
            format!("unknown key {}; {expected}", path[..n].join("."))
        }
        None => format!("{msg} (key {})", path.join(".")),
    }
}
