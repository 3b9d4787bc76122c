//! `nodes.json` of a gateway node: `{"nodes": [...]}` exactly as Python's `json.dump`
//! writes it (default separators, ASCII escapes, one line, no trailing newline).

use crate::config::ServiceRef;

/// The peers of the gateway `svc` (the same file for each of its deploy IPs).
pub fn nodes_json(svc: ServiceRef) -> String {
    let peers: Vec<String> = svc.service.peers.iter().map(|p| json_string(p)).collect();
    format!("{{\"nodes\": [{}]}}", peers.join(", "))
}

/// A JSON string literal with Python's `ensure_ascii` escaping.
fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_python_json_dump() {
        assert_eq!(json_string("172.25.0.3:30300"), "\"172.25.0.3:30300\"");
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(json_string("é😀\u{7f}"), "\"\\u00e9\\ud83d\\ude00\\u007f\"");
    }
}
