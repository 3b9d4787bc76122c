//! Tolerant deserialisers for TarsWeb JSON.
//!
//! TarsWeb's shapes drift between versions: ids arrive as numbers or strings, `set_*`
//! as `null`, booleans as `true`/`"Y"`/`1`. These helpers accept every form seen in
//! the reference and fail only on values that cannot mean what the field says.

use serde::Deserialize;
use serde::de::{Deserializer, Error};
use serde_json::Value;

/// A non-negative integer sent as a number or a decimal string.
pub fn u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let value = Value::deserialize(d)?;
    to_u64(&value).ok_or_else(|| D::Error::custom(format!("expected an id, got {value}")))
}

/// Like [`u64_lenient`], but `null`, `""` and a missing key give 0.
pub fn u64_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let value = Value::deserialize(d)?;
    match &value {
        Value::Null => Ok(0),
        Value::String(s) if s.trim().is_empty() => Ok(0),
        _ => to_u64(&value).ok_or_else(|| D::Error::custom(format!("expected a number, got {value}"))),
    }
}

/// A signed integer (statuses, pids); `null` and `""` give 0.
pub fn i64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let value = Value::deserialize(d)?;
    match &value {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| D::Error::custom(format!("expected an integer, got {value}"))),
        Value::String(s) if s.trim().is_empty() => Ok(0),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("expected an integer, got {value}"))),
        _ => Err(D::Error::custom(format!("expected an integer, got {value}"))),
    }
}

/// A port number in 0..=65535, sent as a number or a string.
pub fn port_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let n = u64_or_zero(d)?;
    u16::try_from(n).map_err(|_| D::Error::custom(format!("port {n} is out of range")))
}

/// Text; `null` gives `""`, numbers and booleans give their JSON text.
pub fn string_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => String::new(),
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// A flag sent as `true`, `1`, `"Y"`, `"true"` or `"1"`; everything else is false.
pub fn bool_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.trim(), "Y" | "y" | "true" | "1"),
        _ => false,
    })
}

/// A list that some versions send as a single object (`deploy_server`'s `server_conf`).
pub fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(D::Error::custom))
            .collect(),
        Value::Object(map) if map.is_empty() => Ok(Vec::new()),
        one => Ok(vec![serde_json::from_value(one).map_err(D::Error::custom)?]),
    }
}

fn to_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "u64_lenient")]
        id: u64,
        #[serde(default, deserialize_with = "string_lenient")]
        name: String,
        #[serde(default, deserialize_with = "bool_lenient")]
        flag: bool,
        #[serde(default, deserialize_with = "port_lenient")]
        port: u16,
    }

    fn probe(json: &str) -> Result<Probe, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn ids_as_numbers_or_strings() {
        assert_eq!(probe(r#"{"id":7}"#).unwrap().id, 7);
        assert_eq!(probe(r#"{"id":"42"}"#).unwrap().id, 42);
        assert!(probe(r#"{"id":"abc"}"#).is_err());
        assert!(probe(r#"{"id":null}"#).is_err());
    }

    #[test]
    fn nulls_flags_and_ports() {
        let p = probe(r#"{"id":1,"name":null,"flag":"Y","port":"24567"}"#).unwrap();
        assert_eq!((p.name.as_str(), p.flag, p.port), ("", true, 24567));
        let p = probe(r#"{"id":1,"flag":"N","port":70000}"#);
        assert!(p.is_err(), "port out of range must fail");
        assert!(!probe(r#"{"id":1,"flag":0}"#).unwrap().flag);
        assert!(!probe(r#"{"id":1,"flag":"false"}"#).unwrap().flag);
    }
}
