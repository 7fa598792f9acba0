//! Mapping profile errors back to lines.
//!
//! Parser errors carry a location from serde-saphyr. Validation errors are about a dotted
//! field path (`fleet.clusters`); [`LineIndex`] finds the line where that key is written by
//! walking the block-style YAML by indentation (flow-style maps resolve to their parent key).

use super::ProfileError;
use std::path::Path;

/// Finds the line of a dotted key path in block-style YAML.
pub struct LineIndex<'a> {
    lines: Vec<&'a str>,
}

fn key_of(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start().len();
    let t = line.trim_start().trim_start_matches("- ");
    if t.starts_with('#') {
        return None;
    }
    let (k, _) = t.split_once(':')?;
    let k = k.trim().trim_matches('"').trim_matches('\'');
    (!k.is_empty() && !k.contains(' ')).then_some((indent, k))
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> Self {
        LineIndex {
            lines: text.lines().collect(),
        }
    }

    /// 1-based line of the deepest key of `path` found; 1 when even the first key is absent.
    pub fn line_of(&self, path: &str) -> u64 {
        let mut best = 0usize; // 0 = not found
        let (mut start, mut end, mut min_indent) = (0usize, self.lines.len(), 0usize);
        for seg in path.split('.') {
            let seg = seg.split('[').next().unwrap_or(seg);
            let mut found = None;
            let mut level: Option<usize> = None;
            for i in start..end {
                let Some((indent, k)) = key_of(self.lines[i]) else {
                    continue;
                };
                if indent < min_indent {
                    break;
                }
                let lvl = *level.get_or_insert(indent);
                if indent == lvl && k == seg {
                    found = Some((i, indent));
                    break;
                }
            }
            let Some((i, indent)) = found else { break };
            best = i + 1;
            // The block of this key: following lines indented deeper.
            start = i + 1;
            end = (i + 1..self.lines.len())
                .find(|&j| matches!(key_of(self.lines[j]), Some((ind, _)) if ind <= indent))
                .unwrap_or(self.lines.len());
            min_indent = indent + 1;
        }
        best.max(1) as u64
    }
}

/// Converts a serde-saphyr error into a `file:line: field: problem` error.
pub fn parse_error(path: &Path, text: &str, e: &serde_saphyr::Error) -> ProfileError {
    let line = e
        .location()
        .map(|l| l.line())
        .filter(|l| *l > 0)
        .unwrap_or(1);
    let column = e.location().map(|l| l.column()).unwrap_or(0);
    let message = clean_message(&e.to_string());
    // A missing field or a wrong container type is reported where the offending map or
    // list starts. When that is at (or before) the line's key, the node is a block that
    // begins with that key or list item, and the culprit is its parent.
    let container = ["missing field", "expected a map", "expected a list"]
        .iter()
        .any(|m| message.starts_with(m));
    let field = if container && column <= key_column(text, line) {
        parent(&field_at(text, line))
    } else {
        field_at(text, line)
    };
    ProfileError {
        file: path.to_path_buf(),
        line,
        field,
        message,
    }
}

/// serde-saphyr's message without its own "error: line X column Y:" prefix, in words a
/// user can act on.
fn clean_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or("").trim();
    let mut m = first.strip_prefix("error:").unwrap_or(first).trim();
    if let Some(rest) = m.strip_prefix("line ") {
        if let Some((_, after)) = rest.split_once(": ") {
            m = after.trim();
        }
    }
    let m = m.split(" at line ").next().unwrap_or(m).trim();
    // The parser's words, in terms of the profile (no parser types, no library advice).
    match m {
        "" => "invalid YAML".into(),
        "invalid u64" | "invalid u32" | "invalid usize" => "expected a whole number >= 0".into(),
        "invalid f64" | "invalid floating point" => "expected a number".into(),
        "invalid bool" | "invalid boolean" => "expected true or false".into(),
        "expected mapping start" => "expected a map of `key: value` lines here".into(),
        "expected sequence start" => "expected a list here".into(),
        "expected string scalar" => "expected a single value here, not a map or list".into(),
        m if m.starts_with("duplicate mapping key") => {
            let key = m
                .strip_prefix("duplicate mapping key: ")
                .and_then(|r| r.split(',').next())
                .unwrap_or("");
            format!("duplicate key `{key}`: give each field once")
        }
        m if m.starts_with("multiple YAML documents") => {
            "a profile is a single YAML document: remove the `---` separator and what follows"
                .into()
        }
        m => m.to_string(),
    }
}

/// 1-based column where the key (or list item) written on `line` starts; 0 when none.
fn key_column(text: &str, line: u64) -> u64 {
    let Some(l) = text.lines().nth((line as usize).saturating_sub(1)) else {
        return 0;
    };
    match key_of(l) {
        Some((indent, _)) => indent as u64 + 1,
        None => 0,
    }
}

/// `a.b` for `a.b.c`; empty for a top-level key.
fn parent(path: &str) -> String {
    path.rsplit_once('.')
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

/// The dotted key path of the key written on `line` (1-based), if any.
fn field_at(text: &str, line: u64) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(idx) = (line as usize).checked_sub(1).filter(|i| *i < lines.len()) else {
        return String::new();
    };
    let Some((mut indent, k)) = key_of(lines[idx]) else {
        return String::new();
    };
    let mut parts = vec![k.to_string()];
    for j in (0..idx).rev() {
        if let Some((ind, k)) = key_of(lines[j]) {
            if ind < indent {
                parts.push(k.to_string());
                indent = ind;
                if ind == 0 {
                    break;
                }
            }
        }
    }
    parts.reverse();
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y: &str = "name: x\nfleet:\n  clusters: 3\n  payload_bytes:\n    machine: 5\nclient:\n  qps: 5\n  # comment: no\n  burst: 10\n";

    #[test]
    fn finds_nested_keys() {
        let ix = LineIndex::new(Y);
        assert_eq!(ix.line_of("name"), 1);
        assert_eq!(ix.line_of("fleet.clusters"), 3);
        assert_eq!(ix.line_of("fleet.payload_bytes.machine"), 5);
        assert_eq!(ix.line_of("client.burst"), 9);
        // Missing leaf: the parent's line.
        assert_eq!(ix.line_of("client.pool_size"), 6);
        assert_eq!(ix.line_of("nothing.here"), 1);
        // Same key name under another parent is not confused.
        assert_eq!(ix.line_of("client.qps"), 7);
    }

    #[test]
    fn cleans_parser_messages() {
        assert_eq!(
            clean_message("error: line 2 column 13: invalid u64"),
            "expected a whole number >= 0"
        );
        assert_eq!(
            clean_message("error: line 3 column 3: unknown field `x`, expected a"),
            "unknown field `x`, expected a"
        );
        assert_eq!(clean_message(""), "invalid YAML");
        assert_eq!(
            clean_message("duplicate mapping key: clusters, set DuplicateKeyPolicy in Options"),
            "duplicate key `clusters`: give each field once"
        );
        assert_eq!(
            clean_message("error: line 4 column 1: invalid floating point"),
            "expected a number"
        );
    }

    #[test]
    fn names_the_field_on_a_line() {
        assert_eq!(field_at(Y, 5), "fleet.payload_bytes.machine");
        assert_eq!(field_at(Y, 9), "client.burst");
        assert_eq!(field_at(Y, 1), "name");
    }
}
