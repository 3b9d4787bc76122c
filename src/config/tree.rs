//! A format-neutral, located value tree: what the TOML or YAML parser saw.
//!
//! Owns turning text into [`Node`]s (keeping line:column where the format gives them)
//! and reporting syntax errors. Knows nothing about the topology schema. Pure.

use std::cell::Cell;

use super::ConfigError;

/// 1-based line and column.
pub type Loc = (usize, usize);

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    /// Where the value starts.
    pub loc: Option<Loc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Node>),
    /// Entries in file order (TOML: key order); each key keeps its own location.
    Table(Vec<Entry>),
    /// Anything else (datetime, null, tagged value): named for error messages.
    Other(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_loc: Option<Loc>,
    pub node: Node,
}

impl Value {
    /// The type as an error message names it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
            Value::Other(name) => name,
        }
    }
}

/// Parses a TOML document; every syntax error the parser recovers from is reported.
pub fn from_toml(text: &str) -> Result<Node, Vec<ConfigError>> {
    let (doc, errors) = toml::de::DeTable::parse_recoverable(text);
    let lines = Lines::new(text);
    if !errors.is_empty() {
        return Err(errors
            .iter()
            .map(|e| ConfigError {
                path: String::new(),
                location: e.span().map(|s| lines.locate(s.start)),
                message: format!("TOML syntax error: {}", one_line(e.message())),
                hint: None,
            })
            .collect());
    }
    let span = doc.span();
    Ok(Node {
        value: toml_table(&lines, doc.get_ref()),
        loc: Some(lines.locate(span.start)),
    })
}

fn toml_table(lines: &Lines<'_>, table: &toml::de::DeTable<'_>) -> Value {
    let entries = table
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_loc: Some(lines.locate(k.span().start)),
            node: toml_node(lines, v),
        })
        .collect();
    Value::Table(entries)
}

fn toml_node(lines: &Lines<'_>, v: &toml::Spanned<toml::de::DeValue<'_>>) -> Node {
    use toml::de::DeValue;
    let value = match v.get_ref() {
        DeValue::String(s) => Value::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Value::Int(n),
            Err(_) => Value::Other("an integer out of range"),
        },
        DeValue::Float(f) => Value::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(_) => Value::Other("a datetime"),
        DeValue::Array(items) => Value::Array(items.iter().map(|i| toml_node(lines, i)).collect()),
        DeValue::Table(t) => toml_table(lines, t),
    };
    Node {
        value,
        loc: Some(lines.locate(v.span().start)),
    }
}

/// Brackets a YAML document may nest. A topology needs 3; the YAML scanner takes time
/// quadratic in the nesting depth before its own limit applies, so deeper input is
/// refused before parsing.
pub const MAX_YAML_NESTING: usize = 64;

/// Parses a YAML document. Locations are known for syntax errors only.
pub fn from_yaml(text: &str) -> Result<Node, Vec<ConfigError>> {
    if let Some(loc) = yaml_too_deep(text) {
        return Err(vec![ConfigError {
            path: String::new(),
            location: Some(loc),
            message: format!("YAML syntax error: brackets nest deeper than {MAX_YAML_NESTING} levels"),
            hint: Some("a topology needs at most 3 levels; check for unclosed `[` or `{`".into()),
        }]);
    }
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
        Ok(v) => Ok(yaml_node(v)),
        Err(e) => {
            let location = e.location().map(|l| (l.line(), l.column()));
            let message = e.to_string();
            // The location is reported apart; drop the parser's own copy of it.
            let message = match message.find(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            Err(vec![ConfigError {
                path: String::new(),
                location,
                message: format!("YAML syntax error: {}", one_line(&message)),
                hint: None,
            }])
        }
    }
}

fn yaml_node(v: serde_yaml_ng::Value) -> Node {
    use serde_yaml_ng::Value as Y;
    let value = match v {
        Y::Null => Value::Other("null"),
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(f)) if n.is_f64() => Value::Float(f),
            _ => Value::Other("an integer out of range"),
        },
        Y::String(s) => Value::Str(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_node).collect()),
        Y::Mapping(map) => Value::Table(
            map.into_iter()
                .map(|(k, v)| Entry {
                    key: match k {
                        Y::String(s) => s,
                        other => yaml_key_text(&other),
                    },
                    key_loc: None,
                    node: yaml_node(v),
                })
                .collect(),
        ),
        Y::Tagged(_) => Value::Other("a tagged value"),
    };
    Node { value, loc: None }
}

/// Where `[` and `{` not yet closed first exceed [`MAX_YAML_NESTING`], comment lines
/// aside. Counts brackets inside quotes too: no topology has 64 unclosed ones there.
fn yaml_too_deep(text: &str) -> Option<Loc> {
    let mut depth = 0usize;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        for (col, c) in line.chars().enumerate() {
            match c {
                '[' | '{' => depth += 1,
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > MAX_YAML_NESTING {
                return Some((i + 1, col + 1));
            }
        }
    }
    None
}

/// Non-string YAML keys (numbers, booleans) become their text; they are unknown keys anyway.
fn yaml_key_text(k: &serde_yaml_ng::Value) -> String {
    serde_yaml_ng::to_string(k)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Turns byte offsets into 1-based line:column (in characters) in O(log n) plus the characters since the last
/// lookup on the same line, so locating every key of a large file stays linear.
struct Lines<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
    /// The last lookup: offset and its location.
    last: Cell<(usize, Loc)>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines {
            text,
            starts,
            last: Cell::new((0, (1, 1))),
        }
    }

    fn locate(&self, offset: usize) -> Loc {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let index = self.starts.partition_point(|&s| s <= offset) - 1;
        let line_start = self.starts[index];
        let (last_offset, (last_line, last_col)) = self.last.get();
        let (from, col) = if last_line == index + 1 && (line_start..=offset).contains(&last_offset) {
            (last_offset, last_col)
        } else {
            (line_start, 1)
        };
        let loc = (index + 1, col + self.text[from..offset].chars().count());
        self.last.set((offset, loc));
        loc
    }
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keeps_locations_of_keys_and_values() {
        let node = from_toml("[tars]\n  tars_url = \"x\"\n").unwrap();
        let Value::Table(top) = node.value else {
            panic!("not a table")
        };
        let Value::Table(tars) = &top[0].node.value else {
            panic!("not a table")
        };
        assert_eq!(tars[0].key, "tars_url");
        assert_eq!(tars[0].key_loc, Some((2, 3)));
        assert_eq!(tars[0].node.loc, Some((2, 14)));
    }

    #[test]
    fn toml_syntax_error_has_a_location() {
        let errs = from_toml("[tars]\ntars_url = \"x\nfoo = 1\n").unwrap_err();
        assert!(errs[0].message.starts_with("TOML syntax error"));
        assert_eq!(errs[0].location.map(|l| l.0), Some(2));
    }

    #[test]
    fn yaml_syntax_error_has_a_location() {
        let errs = from_yaml("tars:\n  tars_url: [x\nchain: 1\n").unwrap_err();
        assert!(errs[0].message.starts_with("YAML syntax error"));
        assert!(errs[0].location.is_some());
        assert!(!errs[0].message.contains(" at line "));
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(Lines::new("ab\ncé d").locate(7), (2, 4));
        assert_eq!(Lines::new("").locate(5), (1, 1));
    }

    #[test]
    fn deep_yaml_is_refused_before_parsing_at_the_bracket() {
        let deep = format!("tars:\n  x: {}", "[{".repeat(MAX_YAML_NESTING));
        let errs = from_yaml(&deep).unwrap_err();
        assert_eq!(errs[0].location, Some((2, 6 + MAX_YAML_NESTING)));
        assert!(errs[0].message.contains("deeper than 64"), "{}", errs[0].message);
        let limit = format!("# {}\nx: {}1{}\n", "[".repeat(99), "[".repeat(64), "]".repeat(64));
        assert!(from_yaml(&limit).is_ok());
    }

    #[test]
    fn lines_locate_any_order_like_a_fresh_scan() {
        let text = "ab\ncé d\n\nxyz é\n";
        let naive = |offset: usize| {
            let before = &text[..offset];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            (
                before.matches('\n').count() + 1,
                before[line_start..].chars().count() + 1,
            )
        };
        let lines = Lines::new(text);
        let boundaries: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
        for &offset in boundaries
            .iter()
            .chain(boundaries.iter().rev())
            .chain([&4, &9, &1, &12])
        {
            assert_eq!(lines.locate(offset), naive(offset), "offset {offset}");
        }
        // Inside a multi-byte character: the character's own column.
        assert_eq!(lines.locate(5), naive(4));
    }
}
