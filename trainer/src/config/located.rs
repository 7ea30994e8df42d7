//! Parse errors as one line: `FILE:LINE:COL: message`, naming the full dotted key.

use super::{Config, ConfigError};

pub(super) fn parse_located(text: &str, label: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| located(text, label, &e))
}

/// Turns a multi-line toml error into `FILE:LINE:COL: message (key a.b)`.
fn located(text: &str, label: &str, err: &toml::de::Error) -> ConfigError {
    let msg = one_line(err.message());
    let Some(span) = err.span() else {
        return ConfigError::Parse {
            location: label.to_string(),
            message: msg,
        };
    };
    let offset = span.start.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    let key = key_at(text, offset);
    let message = match (unknown_field(&msg), &key) {
        (Some((field, expected)), Some(k)) => {
            // The line's key ends with the field; if the span landed elsewhere, trust the message.
            let full = if k.rsplit('.').next() == Some(field.as_str()) {
                k.clone()
            } else if at_header(text, offset) {
                // The span covers a whole table (an internally tagged one, such as
                // `[model.features]`): the field is that table's.
                format!("{k}.{field}")
            } else {
                format!(
                    "{}.{field}",
                    section_before(text, offset).unwrap_or_default()
                )
                .trim_start_matches('.')
                .to_string()
            };
            format!("unknown key {full}; {expected}")
        }
        (Some((field, expected)), None) => format!("unknown key {field}; {expected}"),
        (None, Some(k)) => format!("{msg} (key {k})"),
        (None, None) => msg,
    };
    ConfigError::Parse {
        location: format!("{label}:{line}:{col}"),
        message,
    }
}

pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" into ("x", "expected one of a, b").
pub(super) fn unknown_field(msg: &str) -> Option<(String, String)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (field, tail) = rest.split_once('`')?;
    let expected = tail.trim_start_matches(',').trim().replace('`', "");
    Some((field.to_string(), expected))
}

/// Normalizes a TOML key path as written (`a . "b"`) to `a.b`.
fn normalize_key(raw: &str) -> String {
    raw.split('.')
        .map(|p| p.trim().trim_matches('"').trim_matches('\''))
        .collect::<Vec<_>>()
        .join(".")
}

/// The header name if `line` is a `[table]` or `[[array]]` header.
fn header_name(line: &str) -> Option<String> {
    let l = line.trim();
    let inner = l.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(normalize_key(inner[..end].trim_start_matches('[')))
}

/// Whether the line holding `offset` is a table header.
fn at_header(text: &str, offset: usize) -> bool {
    let start = text
        .get(..offset)
        .and_then(|b| b.rfind('\n'))
        .map_or(0, |i| i + 1);
    header_name(text[start..].lines().next().unwrap_or("")).is_some()
}

/// The last table header strictly before the line holding `offset`.
fn section_before(text: &str, offset: usize) -> Option<String> {
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    text[..line_start].lines().rev().find_map(header_name)
}

/// The full dotted key written on the line that holds `offset`, if the line has one.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    if let Some(h) = header_name(line) {
        return Some(h);
    }
    let (lhs, _) = line.split_once('=')?;
    let lhs = normalize_key(lhs);
    if lhs.is_empty() || lhs.starts_with('#') {
        return None;
    }
    Some(match section_before(text, offset) {
        Some(s) if !s.is_empty() => format!("{s}.{lhs}"),
        _ => lhs,
    })
}
