//! Request parameters merged like TarsWeb's `paramsDealMidware`: query (strings), then the
//! JSON or form body, then multipart fields; later sources win. Also the JavaScript
//! coercions the reference relies on (`toString`, truthiness, `== true`) and the
//! `notEmpty` / `number` validation rules.

use std::collections::BTreeMap;

use serde_json::Value;

use super::reply::Fail;

/// The merged parameters of one request.
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: BTreeMap<String, Value>,
}

/// A `checkRule` entry.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    NotEmpty,
    Number,
}

impl Params {
    /// Adds one source; keys already present are overwritten.
    pub fn merge(&mut self, source: impl IntoIterator<Item = (String, Value)>) {
        self.map.extend(source);
    }

    /// Keeps only `keys` (a route's `validParams`).
    pub fn filtered(&self, keys: &[&str]) -> Params {
        let map = self
            .map
            .iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Params { map }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// `String(value)`, or `""` when absent.
    pub fn text(&self, key: &str) -> String {
        self.get(key).map(js_string).unwrap_or_default()
    }

    /// `String(value)`, or `None` when absent.
    pub fn opt_text(&self, key: &str) -> Option<String> {
        self.get(key).map(js_string)
    }

    pub fn truthy(&self, key: &str) -> bool {
        self.get(key).is_some_and(js_truthy)
    }

    /// A numeric id (`12` or `"12"`).
    pub fn id(&self, key: &str) -> Option<u64> {
        self.text(key).trim().parse().ok()
    }

    /// Applies a route's `checkRule`: the first failing parameter gives kind A.
    pub fn check(&self, rules: &[(&str, Rule)]) -> Result<(), Fail> {
        for (key, rule) in rules {
            let value = self.text(key);
            let token = match rule {
                Rule::NotEmpty if value.is_empty() => super::i18n::NOT_EMPTY,
                Rule::Number if !is_float(&value) => super::i18n::NEED_NUMBER,
                _ => continue,
            };
            return Err(Fail::Validation(format!("{key}{token}")));
        }
        Ok(())
    }
}

/// JavaScript `String(v)` (null and undefined print as "" as TarsWeb's checks see them).
pub fn js_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(js_string).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".to_string(),
    }
}

pub fn js_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// JavaScript `Number(v)`; NaN when not numeric.
pub fn js_number(value: &Value) -> f64 {
    match value {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) if s.trim().is_empty() => 0.0,
        Value::String(s) => s.trim().parse().unwrap_or(f64::NAN),
        Value::Array(_) | Value::Object(_) => f64::NAN,
    }
}

/// JavaScript loose equality with a number (`v == 5`, `v == true` is `v == 1`).
pub fn js_loose_eq(value: Option<&Value>, number: f64) -> bool {
    value.is_some_and(|v| js_number(v) == number)
}

/// `validator.isFloat`: optional sign, digits, optional fraction and exponent.
pub fn is_float(text: &str) -> bool {
    if matches!(text, "" | "." | "-" | "+") {
        return false;
    }
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    digits(int) && digits(frac) && exponent_ok && !mantissa.is_empty()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn javascript_coercions() {
        assert_eq!(js_string(&json!(["172.25.0.5"])), "172.25.0.5");
        assert_eq!(js_string(&json!([])), "");
        assert_eq!(js_string(&json!(5)), "5");
        assert!(js_truthy(&json!("false")));
        assert!(!js_truthy(&json!("")));
        assert!(js_loose_eq(Some(&json!("5")), 5.0));
        assert!(js_loose_eq(Some(&json!(true)), 1.0));
        assert!(!js_loose_eq(Some(&json!("true")), 1.0));
    }

    #[test]
    fn is_float_follows_validator() {
        for ok in ["5", "-1.5", ".5", "5.", "1e3"] {
            assert!(is_float(ok), "{ok}");
        }
        for bad in ["", ".", "abc", "5a", "inf", "1e"] {
            assert!(!is_float(bad), "{bad}");
        }
    }

    #[test]
    fn first_failing_rule_names_its_parameter() {
        let mut p = Params::default();
        p.merge([("application".to_string(), json!("chain0"))]);
        let err = p
            .check(&[("application", Rule::NotEmpty), ("level", Rule::Number)])
            .unwrap_err();
        assert_eq!(err, Fail::Validation("level#common.needNumber#".into()));
    }
}
