//! Resource addresses: `kind["key"]["key"]…` (DESIGN.md §3).
//!
//! One type is the state key, the graph node id, the plan line prefix and the
//! `--target` argument. A [`Target`] matches itself and every address that extends it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::ServiceKind;

/// The six resource kinds, in the order plans and state list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    Tarsnode,
    Ca,
    Cert,
    Config,
    Server,
    Node,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 6] = [
        ResourceKind::Tarsnode,
        ResourceKind::Ca,
        ResourceKind::Cert,
        ResourceKind::Config,
        ResourceKind::Server,
        ResourceKind::Node,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Tarsnode => "tarsnode",
            ResourceKind::Ca => "ca",
            ResourceKind::Cert => "cert",
            ResourceKind::Config => "config",
            ResourceKind::Server => "server",
            ResourceKind::Node => "node",
        }
    }

    /// How many keys a full address of this kind has.
    pub fn arity(self) -> usize {
        match self {
            ResourceKind::Tarsnode | ResourceKind::Ca | ResourceKind::Server => 1,
            ResourceKind::Node => 2,
            ResourceKind::Cert | ResourceKind::Config => 3,
        }
    }

    /// What the keys mean, for error messages.
    pub fn key_names(self) -> &'static str {
        match self {
            ResourceKind::Tarsnode => "[\"<ip>\"]",
            ResourceKind::Ca => "[\"rpc\"|\"gateway\"]",
            ResourceKind::Cert => "[\"<server>\"][\"<ip>\"][\"ssl\"|\"sdk\"]",
            ResourceKind::Config => "[\"<server>\"][\"<ip>\"][\"<file>\"]",
            ResourceKind::Server => "[\"<server>\"]",
            ResourceKind::Node => "[\"<server>\"][\"<ip>\"]",
        }
    }

    fn parse(s: &str) -> Option<ResourceKind> {
        ResourceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address `{input}`: {reason}")]
    Syntax { input: String, reason: String },
}

/// A full resource address: a kind and exactly `kind.arity()` keys.
///
/// The keys are shared: a clone (the graph's, the plan's, every `depends_on`) costs a
/// reference count, not a copy. Equality and order are those of the keys' text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    kind: ResourceKind,
    keys: Arc<[String]>,
}

impl Address {
    fn new(kind: ResourceKind, keys: impl Into<Arc<[String]>>) -> Self {
        let keys = keys.into();
        debug_assert_eq!(keys.len(), kind.arity());
        Address { kind, keys }
    }

    pub fn tarsnode(ip: impl ToString) -> Self {
        Self::new(ResourceKind::Tarsnode, [ip.to_string()])
    }

    pub fn ca(kind: ServiceKind) -> Self {
        Self::new(ResourceKind::Ca, [kind.as_str().to_string()])
    }

    /// `purpose` is `ssl` or `sdk`.
    pub fn cert(server: &str, ip: impl ToString, purpose: &str) -> Self {
        Self::new(
            ResourceKind::Cert,
            [server.to_string(), ip.to_string(), purpose.to_string()],
        )
    }

    pub fn config(server: &str, ip: impl ToString, file: &str) -> Self {
        Self::new(
            ResourceKind::Config,
            [server.to_string(), ip.to_string(), file.to_string()],
        )
    }

    pub fn server(server: &str) -> Self {
        Self::new(ResourceKind::Server, [server.to_string()])
    }

    pub fn node(server: &str, ip: impl ToString) -> Self {
        Self::new(ResourceKind::Node, [server.to_string(), ip.to_string()])
    }

    pub fn kind(&self) -> ResourceKind {
        self.kind
    }

    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The server name of a cert, config, server or node address.
    pub fn server_name(&self) -> Option<&str> {
        match self.kind {
            ResourceKind::Cert | ResourceKind::Config | ResourceKind::Server | ResourceKind::Node => {
                Some(&self.keys[0])
            }
            _ => None,
        }
    }

    /// The host IP of a tarsnode, cert, config or node address.
    pub fn ip(&self) -> Option<&str> {
        match self.kind {
            ResourceKind::Tarsnode => Some(&self.keys[0]),
            ResourceKind::Cert | ResourceKind::Config | ResourceKind::Node => Some(&self.keys[1]),
            _ => None,
        }
    }

    /// The last key of a cert (`ssl`/`sdk`) or config (file name) address.
    pub fn leaf_name(&self) -> Option<&str> {
        match self.kind {
            ResourceKind::Cert | ResourceKind::Config => Some(&self.keys[2]),
            _ => None,
        }
    }

    /// The service type of a `ca` address.
    pub fn ca_kind(&self) -> Option<ServiceKind> {
        match self.kind {
            ResourceKind::Ca => ServiceKind::parse(&self.keys[0]),
            _ => None,
        }
    }

    /// The node address a cert or config belongs to.
    pub fn owning_node(&self) -> Option<Address> {
        match self.kind {
            ResourceKind::Cert | ResourceKind::Config => Some(Address::node(&self.keys[0], &self.keys[1])),
            _ => None,
        }
    }
}

/// A `--target`: a kind and a prefix of its keys (possibly none).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    kind: ResourceKind,
    keys: Vec<String>,
}

impl Target {
    /// True when `address` is this target or extends it.
    pub fn matches(&self, address: &Address) -> bool {
        self.kind == address.kind && address.keys.starts_with(&self.keys)
    }

    /// A target that names a full address, if it does.
    pub fn as_address(&self) -> Option<Address> {
        (self.keys.len() == self.kind.arity()).then(|| Address::new(self.kind, self.keys.as_slice()))
    }
}

impl From<Address> for Target {
    fn from(a: Address) -> Self {
        Target {
            kind: a.kind,
            keys: a.keys.to_vec(),
        }
    }
}

fn write_address(f: &mut fmt::Formatter<'_>, kind: ResourceKind, keys: &[String]) -> fmt::Result {
    f.write_str(kind.as_str())?;
    for key in keys {
        f.write_str("[\"")?;
        // Runs of plain text at once; `"` and `\` escaped.
        let mut rest = key.as_str();
        while let Some(at) = rest.find(['"', '\\']) {
            f.write_str(&rest[..at])?;
            f.write_str(if rest.as_bytes()[at] == b'"' {
                "\\\""
            } else {
                "\\\\"
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)?;
        f.write_str("\"]")?;
    }
    Ok(())
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_address(f, self.kind, &self.keys)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_address(f, self.kind, &self.keys)
    }
}

/// Parses `kind["a"]["b"]`; returns the kind and the keys.
fn parse_parts(input: &str) -> Result<(ResourceKind, Vec<String>), AddressError> {
    let err = |reason: String| AddressError::Syntax {
        input: input.to_string(),
        reason,
    };
    let name_end = input.find('[').unwrap_or(input.len());
    let name = &input[..name_end];
    let kind = ResourceKind::parse(name).ok_or_else(|| {
        // Terraform's `type.name` spelling: show ours.
        if let Some((kind, rest)) = name
            .split_once('.')
            .and_then(|(k, r)| Some((ResourceKind::parse(k)?, r)))
        {
            return err(format!(
                "keys go in brackets and quotes: {kind}[\"{rest}\"]; form: {kind}{}",
                kind.key_names()
            ));
        }
        let kinds: Vec<_> = ResourceKind::ALL.iter().map(|k| k.as_str()).collect();
        err(format!(
            "unknown resource kind `{name}`; expected one of {}",
            kinds.join(", ")
        ))
    })?;
    let mut keys = Vec::with_capacity(kind.arity());
    let mut rest = &input[name_end..];
    while !rest.is_empty() {
        let Some(body) = rest.strip_prefix("[\"") else {
            return Err(err(format!(
                "expected `[\"` after `{kind}`; form: {kind}{}",
                kind.key_names()
            )));
        };
        let (key, tail) = quoted_key(body).map_err(|reason| err(reason.into()))?;
        let Some(tail) = tail.strip_prefix(']') else {
            return Err(err("expected `]` after a quoted key".into()));
        };
        if key.is_empty() {
            return Err(err("empty key".into()));
        }
        keys.push(key);
        rest = tail;
    }
    if keys.len() > kind.arity() {
        return Err(err(format!("too many keys; form: {kind}{}", kind.key_names())));
    }
    if kind == ResourceKind::Ca
        && let Some(k) = keys.first()
        && ServiceKind::parse(k).is_none()
    {
        return Err(err(format!("ca key must be \"rpc\" or \"gateway\", not \"{k}\"")));
    }
    Ok((kind, keys))
}

/// The key that `body` starts with, up to its closing `"` (`\"` and `\\` unescaped),
/// and the text after that quote.
fn quoted_key(body: &str) -> Result<(String, &str), &'static str> {
    let mut key = String::new();
    let mut rest = body;
    loop {
        let at = rest
            .find(['"', '\\'])
            .ok_or("unterminated key: missing closing `\"]`")?;
        key.push_str(&rest[..at]);
        if rest.as_bytes()[at] == b'"' {
            return Ok((key, &rest[at + 1..]));
        }
        match rest[at + 1..].chars().next() {
            Some(c @ ('"' | '\\')) => key.push(c),
            _ => return Err("bad escape in key; only \\\" and \\\\ are allowed"),
        }
        rest = &rest[at + 2..];
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, keys) = parse_parts(s)?;
        if keys.len() != kind.arity() {
            return Err(AddressError::Syntax {
                input: s.to_string(),
                reason: format!(
                    "expected {} key(s); form: {kind}{}",
                    kind.arity(),
                    kind.key_names()
                ),
            });
        }
        Ok(Address::new(kind, keys))
    }
}

impl FromStr for Target {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, keys) = parse_parts(s)?;
        Ok(Target { kind, keys })
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Whole, not piece by piece: JSON escapes a whole string much faster.
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(AddressText)
    }
}

/// Parses an address from the text as read, without copying it first (a state holds
/// tens of thousands).
struct AddressText;

impl serde::de::Visitor<'_> for AddressText {
    type Value = Address;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Address, E> {
        text.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dotted_address_is_answered_with_the_bracket_form() {
        let e = "node.agencyABcosRpcService"
            .parse::<Target>()
            .unwrap_err()
            .to_string();
        assert!(e.contains(r#"node["agencyABcosRpcService"]"#), "{e}");
        assert!(!e.contains("unknown resource kind"), "{e}");
    }

    #[test]
    fn every_kind_round_trips() {
        let all = [
            Address::tarsnode("172.25.0.5"),
            Address::ca(ServiceKind::Rpc),
            Address::cert("agencyABcosRpcService", "172.25.0.5", "ssl"),
            Address::config("agencyABcosRpcService", "172.25.0.5", "config.ini"),
            Address::server("agencyABcosRpcService"),
            Address::node("agencyABcosRpcService", "172.25.0.5"),
            Address::config("s", "1.2.3.4", "we\"ird\\name"),
        ];
        for a in all {
            let text = a.to_string();
            assert_eq!(text.parse::<Address>().unwrap(), a, "{text}");
        }
        assert_eq!(
            Address::cert("agencyABcosRpcService", "172.25.0.5", "ssl").to_string(),
            r#"cert["agencyABcosRpcService"]["172.25.0.5"]["ssl"]"#
        );
    }

    #[test]
    fn target_matches_itself_and_extensions_only() {
        let t: Target = r#"node["agencyABcosRpcService"]"#.parse().unwrap();
        assert!(t.matches(&Address::node("agencyABcosRpcService", "172.25.0.5")));
        assert!(!t.matches(&Address::node("agencyABcosGatewayService", "172.25.0.5")));
        assert!(!t.matches(&Address::server("agencyABcosRpcService")));
        let full: Target = r#"server["x"]"#.parse().unwrap();
        assert!(full.matches(&Address::server("x")));
        assert!(!full.matches(&Address::server("xy")));
    }

    #[test]
    fn malformed_addresses_are_rejected_with_the_form() {
        for bad in [
            "nod[\"a\"]",
            "node[a]",
            "node[\"a\"",
            "node[\"a\"][\"b\"][\"c\"]",
            "ca[\"x\"]",
            "node[\"\"]",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
        let e = "node[\"a\"]".parse::<Address>().unwrap_err().to_string();
        assert!(e.contains("node[\"<server>\"][\"<ip>\"]"), "{e}");
    }
}
