//! Go `encoding/json` output for custom resources: sorted keys, HTML-safe escapes,
//! trailing newline.

use serde_json::Value;

/// Serializes like Go's `encoding/json` (Go 1.19, as kube-apiserver stores custom
/// resources): object keys sorted bytewise, compact, `<` `>` `&` U+2028 U+2029 and control
/// characters other than `\n` `\r` `\t` as `\u00xx`, floats in Go's shortest form (`1`,
/// `0.5`, `1e+21`, `1.5e-7`; integers beyond `i64` as floats, as the apiserver's
/// unstructured decoding turns them into `float64`), then the `\n` its serializer writes.
pub fn encode_json(obj: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_json(&mut out, obj);
    out.push(b'\n');
    out
}

/// [`encode_json`] without the newline, as a string.
pub(super) fn go_json(v: &Value) -> String {
    let mut out = Vec::new();
    write_json(&mut out, v);
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes `v` as Go's `encoding/json` does (see [`encode_json`]), without a trailing newline.
pub fn write_json(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            let s = match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i.to_string(),
                (None, Some(f)) if f != 0.0 && (f.abs() < 1e-6 || f.abs() >= 1e21) => {
                    let s = format!("{f:e}");
                    match s.split_once('e') {
                        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
                        _ => s,
                    }
                }
                (None, Some(f)) => f.to_string(),
                (None, None) => n.to_string(),
            };
            out.extend_from_slice(s.as_bytes());
        }
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, x);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            // serde_json's Map is a BTreeMap in this build (no `preserve_order`): its keys
            // iterate sorted bytewise, as Go's encoder sorts them.
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_json(out, x);
            }
            out.push(b'}');
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape_into(out, s);
    out.push(b'"');
}

/// The inside of a Go JSON string: runs of bytes that need no escape are copied at once.
pub fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // Bytes to escape: `"` `\` `<` `>` `&`, controls, and the lead byte of U+2028/U+2029.
        if !matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&' | 0..=0x1f | 0xe2) {
            continue;
        }
        if b == 0xe2 && !matches!(bytes.get(i + 1..i + 3), Some([0x80, 0xa8 | 0xa9])) {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        // The char starting at i (ASCII, or U+2028/U+2029 of 3 bytes).
        let len = if b == 0xe2 { 3 } else { 1 };
        escape_char(out, &s[i..i + len]);
        start = i + len;
    }
    out.extend_from_slice(&bytes[start..]);
}

fn escape_char(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}
