//! Schema structs → the typed [`Topology`]: defaults, value rules and cross-checks.
//!
//! Applies BcosBuilder's defaults (reference §1) and the checks BcosBuilder lacks: IP
//! lists, duplicate IPs and agency names, names of letters/digits, port ranges, two
//! services on one IP and port, `ip:port` peers, http(s) Tars URL, a key center for
//! storage security. Values that reach files and requests are checked too: no control or
//! bidi characters in text rendered into `config.ini`, bounded names, node IPs that can
//! be a node, no credentials in `tars_url`, tokens long enough to redact. Every error is
//! collected; a topology is returned only when there is none. Pure.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::ConfigError;
use super::model::{Agency, BackendSettings, ChainSettings, Service, ServiceKind, TarsSettings, Topology};
use super::schema::{Located, Opt, RawAgency, RawBackend, RawChain, RawService, RawTars, RawTopology};
use super::tree::Loc;
use crate::secret::{MIN_TOKEN_CHARS, Secret};

/// The longest `chain_id` or agency name: Tars keeps application and server names in
/// 128-character columns, and the server name adds `BcosGatewayService`.
pub const MAX_NAME_CHARS: usize = 64;

pub const DEFAULT_CHAIN_ID: &str = "chain";
pub const DEFAULT_LISTEN_IP: &str = "0.0.0.0";
pub const DEFAULT_LISTEN_PORT: u16 = 20200;
pub const DEFAULT_THREAD_COUNT: u32 = 4;
pub const DEFAULT_FAILOVER_CLUSTER_URL: &str = "127.0.0.1:2379";
pub const DEFAULT_PKG_DIR: &str = "binary";

/// Validates decoded input. `env_token`, when set and not blank, replaces the file's token.
pub fn validate(
    raw: &RawTopology,
    env_token: Option<&str>,
    errors: &mut Vec<ConfigError>,
) -> Option<Topology> {
    let before = errors.len();
    let tars = tars_settings(raw.tars.as_ref(), env_token, errors);
    let chain = chain_settings(&raw.chain.clone().unwrap_or_default(), errors);
    let agencies: Vec<Agency> = raw
        .agency
        .iter()
        .enumerate()
        .filter_map(|(i, a)| agency(i, a, errors))
        .collect();
    check_duplicate_agencies(&raw.agency, errors);
    check_port_clashes(&raw.agency, errors);
    backend_settings(raw, errors);
    if errors.len() > before {
        return None;
    }
    Some(Topology {
        tars: tars?,
        chain,
        agencies,
    })
}

/// `[backend]`, checked; the local default when the section is absent.
pub fn backend_settings(raw: &RawTopology, errors: &mut Vec<ConfigError>) -> BackendSettings {
    raw.backend
        .as_ref()
        .map(|b| backend_section(b, errors))
        .unwrap_or_default()
}

fn backend_section(raw: &RawBackend, errors: &mut Vec<ConfigError>) -> BackendSettings {
    let kind = raw.kind.as_ref().map(|k| k.value.trim()).unwrap_or("local");
    let url = raw.url.as_ref().map(|u| u.value.trim().to_string());
    let mysql_url = match kind {
        "local" => None,
        "mysql" => {
            if url.is_none() {
                errors.push(err(
                    "backend.url",
                    raw.loc.0,
                    "`type = \"mysql\"` needs `url`",
                    Some("e.g. `url = \"mysql://tarsform@127.0.0.1:3306/tarsform\"` (the password comes from TARSFORM_BACKEND_PASSWORD or `password_file`)"),
                ));
            }
            url.clone()
        }
        other => {
            errors.push(err(
                "backend.type",
                raw.kind.as_ref().and_then(|k| k.loc),
                format!("unknown backend type `{other}`"),
                Some("use `type = \"local\"` (the default) or `type = \"mysql\"`"),
            ));
            None
        }
    };
    if let Some(u) = raw.url.as_ref().filter(|_| kind == "mysql")
        && let Some((_, rest)) = u.value.split_once("://")
        && rest
            .split('/')
            .next()
            .unwrap_or_default()
            .rsplit_once('@')
            .is_some_and(|(user, _)| user.contains(':'))
    {
        errors.push(err(
            "backend.url",
            u.loc,
            "`url` holds a password",
            Some("remove it from the URL; set TARSFORM_BACKEND_PASSWORD or `password_file` instead"),
        ));
    }
    if let Some(keys) = raw.store_keys.as_ref().filter(|s| s.value && kind == "local") {
        errors.push(err(
            "backend.store_keys",
            keys.loc,
            "`store_keys = true` needs the shared backend",
            Some("set `type = \"mysql\"` and `url`, or remove `store_keys` (local keys stay in their 0600 files)"),
        ));
    }
    BackendSettings {
        mysql_url,
        password_file: raw.password_file.as_ref().map(|p| PathBuf::from(p.value.trim())),
        store_keys: raw.store_keys.as_ref().is_some_and(|s| s.value),
        identity_file: raw.identity_file.as_ref().map(|p| PathBuf::from(p.value.trim())),
    }
}

fn err(
    path: impl Into<String>,
    location: Option<Loc>,
    message: impl Into<String>,
    hint: Option<&str>,
) -> ConfigError {
    ConfigError {
        path: path.into(),
        location,
        message: message.into(),
        hint: hint.map(str::to_string),
    }
}

fn tars_settings(
    raw: Option<&RawTars>,
    env_token: Option<&str>,
    errors: &mut Vec<ConfigError>,
) -> Option<TarsSettings> {
    let raw = raw?;
    let url = raw.tars_url.as_ref().and_then(|u| {
        if has_credentials(&u.value) {
            errors.push(err(
                "tars.tars_url",
                u.loc,
                format!(
                    "`{}` carries a user name or password",
                    without_credentials(u.value.trim())
                ),
                Some("remove `user:password@`: TarsWeb is reached with the token (`tars_token` or TARSFORM_TARS_TOKEN) only"),
            ));
            return None;
        }
        let url = tars_url(&u.value);
        if url.is_none() {
            errors.push(err(
                "tars.tars_url",
                u.loc,
                format!("`{}` is not an http:// or https:// URL", u.value.trim().escape_debug()),
                Some("TarsWeb's address, e.g. `http://127.0.0.1:3000`"),
            ));
        }
        url
    });
    let file_token = raw
        .tars_token
        .as_ref()
        .map(|t| t.value.clone())
        .unwrap_or_default();
    let (token, token_key, token_loc) = match env_token {
        Some(t) if !t.trim().is_empty() => (Secret::new(t.trim()), "TARSFORM_TARS_TOKEN", None),
        _ => (
            Secret::new(file_token.expose().trim()),
            "tars.tars_token",
            raw.tars_token.as_ref().and_then(|t| t.loc),
        ),
    };
    if token.is_too_short() {
        errors.push(err(
            token_key,
            token_loc,
            format!("the Tars token is shorter than {MIN_TOKEN_CHARS} characters"),
            Some("use the token from Tars web → admin → user center → token management (a long random text)"),
        ));
    }
    let pkg_dir = text_or(&raw.tars_pkg_dir, DEFAULT_PKG_DIR);
    if pkg_dir.is_empty() {
        errors.push(err(
            "tars.tars_pkg_dir",
            raw.tars_pkg_dir.as_ref().and_then(|p| p.loc),
            "`tars_pkg_dir` is empty",
            Some("the directory holding BcosRpcService.tgz and BcosGatewayService.tgz; default `binary`"),
        ));
    }
    let packages = super::packages::validate(raw.packages.as_ref().unwrap_or(&BTreeMap::new()), errors);
    Some(TarsSettings {
        url: url?,
        token,
        pkg_dir: PathBuf::from(pkg_dir),
        packages,
    })
}

/// A `user@` or `user:password@` before the host.
fn has_credentials(raw: &str) -> bool {
    let rest = raw.trim();
    let rest = rest.split_once("://").map_or(rest, |(_, r)| r);
    // Up to the path only: a password may hold an unescaped `?` or `#`.
    let authority = rest.split('/').next().unwrap_or("");
    authority.contains('@')
}

/// `raw` with everything between `://` and the last `@` of the authority hidden.
fn without_credentials(raw: &str) -> String {
    let (scheme, rest) = raw.split_once("://").unwrap_or(("", raw));
    let end = rest.find('/').unwrap_or(rest.len());
    let host = rest[..end].rsplit_once('@').map_or(&rest[..end], |(_, h)| h);
    let prefix = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    format!("{prefix}(sensitive)@{host}{}", &rest[end..])
        .escape_debug()
        .to_string()
}

/// Trimmed, http(s) only, with a host, ending in `/`.
fn tars_url(raw: &str) -> Option<String> {
    let url = raw.trim();
    let lower = url.to_ascii_lowercase();
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme))?;
    if rest.is_empty() || rest.starts_with('/') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some(if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    })
}

fn text_or(field: &Opt<String>, default: &str) -> String {
    field
        .as_ref()
        .map_or(default, |f| f.value.as_str())
        .trim()
        .to_string()
}

/// `^[A-Za-z0-9]+$`, as BcosBuilder's `check_service_name` intends.
pub fn is_service_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn chain_settings(raw: &RawChain, errors: &mut Vec<ConfigError>) -> ChainSettings {
    let chain_id = raw
        .chain_id
        .as_ref()
        .map_or(DEFAULT_CHAIN_ID.to_string(), |c| c.value.clone());
    if !is_service_name(&chain_id) {
        errors.push(err(
            "chain.chain_id",
            raw.chain_id.as_ref().and_then(|c| c.loc),
            format!("the chain_id must be letters|numbers, invalid value: `{chain_id}`"),
            Some("use only A-Z, a-z and 0-9, e.g. `chain0`"),
        ));
    } else if let Some(e) = too_long("chain.chain_id", raw.chain_id.as_ref(), "chain_id") {
        errors.push(e);
    }
    let ca_path = |field: &Opt<String>, kind: ServiceKind| match field {
        Some(p) if !p.value.trim().is_empty() => (PathBuf::from(p.value.trim()), true),
        _ => (PathBuf::from(format!("generated/{kind}/{chain_id}/ca")), false),
    };
    let (rpc_ca_cert_path, rpc_ca_cert_path_explicit) = ca_path(&raw.rpc_ca_cert_path, ServiceKind::Rpc);
    let (gateway_ca_cert_path, gateway_ca_cert_path_explicit) =
        ca_path(&raw.gateway_ca_cert_path, ServiceKind::Gateway);
    ChainSettings {
        chain_id,
        rpc_ca_cert_path,
        gateway_ca_cert_path,
        rpc_ca_cert_path_explicit,
        gateway_ca_cert_path_explicit,
        rpc_sm_ssl: raw.rpc_sm_ssl.as_ref().is_some_and(|b| b.value),
        gateway_sm_ssl: raw.gateway_sm_ssl.as_ref().is_some_and(|b| b.value),
    }
}

fn agency(index: usize, raw: &RawAgency, errors: &mut Vec<ConfigError>) -> Option<Agency> {
    let path = format!("agency[{index}]");
    if let Some(name) = raw.name.as_ref().filter(|n| !is_service_name(&n.value)) {
        errors.push(err(
            format!("{path}.name"),
            name.loc,
            format!(
                "the agency.name must be letters|numbers, invalid value: `{}`",
                name.value
            ),
            Some("use only A-Z, a-z and 0-9, e.g. `agencyA`"),
        ));
    } else if let Some(e) = too_long(&format!("{path}.name"), raw.name.as_ref(), "agency name") {
        errors.push(e);
    }
    for (key, field) in [
        ("failover_cluster_url", &raw.failover_cluster_url),
        ("key_center_url", &raw.key_center_url),
        ("cipher_data_key", &raw.cipher_data_key),
    ] {
        if let Some(e) = field
            .as_ref()
            .and_then(|f| unsafe_text(&format!("{path}.{key}"), f))
        {
            errors.push(e);
        }
    }
    // Services are checked even when the name is missing, so every error shows at once.
    let rpc = raw
        .rpc
        .as_ref()
        .map(|s| service(&format!("{path}.rpc"), ServiceKind::Rpc, s, errors));
    let gateway = raw
        .gateway
        .as_ref()
        .map(|s| service(&format!("{path}.gateway"), ServiceKind::Gateway, s, errors));
    storage_security(&path, raw, errors);
    let name = raw.name.as_ref()?;
    Some(Agency {
        name: name.value.clone(),
        failover_cluster_url: text_or(&raw.failover_cluster_url, DEFAULT_FAILOVER_CLUSTER_URL),
        enable_storage_security: raw.enable_storage_security.as_ref().is_some_and(|b| b.value),
        key_center_url: text_or(&raw.key_center_url, ""),
        cipher_data_key: text_or(&raw.cipher_data_key, ""),
        rpc: rpc.flatten(),
        gateway: gateway.flatten(),
    })
}

/// `enable_storage_security = true` needs a key center (`ip:port`, as the node splits it
/// on `:`) and a `cipher_data_key`: without them the node cannot decrypt its keys.
fn storage_security(path: &str, raw: &RawAgency, errors: &mut Vec<ConfigError>) {
    let Some(Located { value: true, loc }) = raw.enable_storage_security else {
        return;
    };
    let url = text_or(&raw.key_center_url, "");
    let url_loc = raw.key_center_url.as_ref().and_then(|u| u.loc).or(loc);
    if url.is_empty() {
        errors.push(err(
            format!("{path}.key_center_url"),
            url_loc,
            "storage security needs a key center",
            Some("set `key_center_url = \"<ip>:<port>\"` (the FISCO BCOS key manager), or `enable_storage_security = false`"),
        ));
    } else if !is_host_port(&url) {
        errors.push(err(
            format!("{path}.key_center_url"),
            url_loc,
            format!("`{url}` is not `ip:port`"),
            Some("write it without `http://` and with a port, e.g. `127.0.0.1:8150`: the node splits it on `:`"),
        ));
    }
    if text_or(&raw.cipher_data_key, "").is_empty() {
        errors.push(err(
            format!("{path}.cipher_data_key"),
            raw.cipher_data_key.as_ref().and_then(|c| c.loc).or(loc),
            "storage security needs the cipher data key",
            Some("set `cipher_data_key` to the key the key center gave for this agency"),
        ));
    }
}

/// `host:port` with a non-empty host of letters, digits, `.`/`-`, and a port 1-65535.
fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// An error when `field` has more than [`MAX_NAME_CHARS`] characters.
fn too_long(path: &str, field: Option<&Located<String>>, what: &str) -> Option<ConfigError> {
    let field = field?;
    let count = field.value.chars().count();
    (count > MAX_NAME_CHARS).then(|| {
        err(
            path,
            field.loc,
            format!("the {what} has {count} characters; at most {MAX_NAME_CHARS} are allowed"),
            Some("Tars limits application and server names; choose a shorter name"),
        )
    })
}

/// An error when text rendered into `config.ini` holds a control or bidi character
/// (a newline would add lines to the file). The value itself is never quoted: it may
/// be a key.
fn unsafe_text(path: &str, field: &Located<String>) -> Option<ConfigError> {
    let (at, c) = field
        .value
        .trim()
        .chars()
        .enumerate()
        .find(|(_, c)| is_forbidden_char(*c))?;
    let name = match c {
        '\n' => "a newline".to_string(),
        '\r' => "a carriage return".to_string(),
        '\t' => "a tab".to_string(),
        c => format!("the character U+{:04X}", c as u32),
    };
    let key = path.rsplit('.').next().unwrap_or(path);
    Some(err(
        path,
        field.loc,
        format!(
            "`{key}` contains {name} (character {} of the value); it is written into config.ini, where it would forge or break lines",
            at + 1
        ),
        Some("write the value on one line, without control or text-direction characters"),
    ))
}

/// Control characters, bidi controls and invisible format characters.
fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
        )
}

/// Why `ip` cannot be a Tars node's address, if it cannot.
fn not_a_node_ip(ip: IpAddr) -> Option<&'static str> {
    if ip.is_unspecified() {
        Some("the unspecified address (it means \"any interface\", not a host)")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()) {
        Some("the broadcast address")
    } else {
        None
    }
}

fn service(
    path: &str,
    kind: ServiceKind,
    raw: &RawService,
    errors: &mut Vec<ConfigError>,
) -> Option<Service> {
    let deploy_ip = deploy_ips(path, raw, errors);
    let listen_ip = text_or(&raw.listen_ip, DEFAULT_LISTEN_IP);
    if listen_ip.parse::<IpAddr>().is_err() {
        errors.push(err(
            format!("{path}.listen_ip"),
            raw.listen_ip.as_ref().and_then(|l| l.loc),
            format!("`{listen_ip}` is not an IP address"),
            Some("usually `0.0.0.0` (all interfaces)"),
        ));
    }
    let listen_port =
        port(&format!("{path}.listen_port"), &raw.listen_port, errors).unwrap_or(DEFAULT_LISTEN_PORT);
    port(&format!("{path}.tars_listen_port"), &raw.tars_listen_port, errors);
    let thread_count = match &raw.thread_count {
        None => DEFAULT_THREAD_COUNT,
        Some(t) => match u32::try_from(t.value) {
            Ok(n) if n >= 1 => n,
            _ => {
                errors.push(err(
                    format!("{path}.thread_count"),
                    t.loc,
                    format!("thread_count {} must be a positive integer", t.value),
                    Some("the default is 4"),
                ));
                DEFAULT_THREAD_COUNT
            }
        },
    };
    let (peers, peers_auto) = peers(path, raw, errors);
    let state = super::nodes::run_state(&format!("{path}.state"), &raw.state, errors).unwrap_or_default();
    let defaults = super::NodeSettings {
        listen_ip: listen_ip.clone(),
        listen_port,
        thread_count,
        state,
    };
    let nodes = super::nodes::node_settings(path, raw, deploy_ip.as_deref(), &defaults, errors);
    Some(Service {
        kind,
        deploy_ip: deploy_ip?,
        listen_ip,
        listen_port,
        thread_count,
        state,
        peers,
        peers_auto,
        prevent_destroy: raw.prevent_destroy.as_ref().map(|b| b.value),
        nodes,
    })
}

fn deploy_ips(path: &str, raw: &RawService, errors: &mut Vec<ConfigError>) -> Option<Vec<IpAddr>> {
    let list = raw.deploy_ip.as_ref()?;
    if list.value.is_empty() {
        errors.push(err(
            format!("{path}.deploy_ip"),
            list.loc,
            "`deploy_ip` is empty",
            Some("list at least one node IP, or remove the whole section"),
        ));
        return None;
    }
    let mut seen: BTreeMap<IpAddr, usize> = BTreeMap::new();
    let mut ips = Vec::new();
    for (i, item) in list.value.iter().enumerate() {
        let item_path = format!("{path}.deploy_ip[{i}]");
        match item.value.parse::<IpAddr>() {
            Err(_) => errors.push(err(
                item_path,
                item.loc,
                format!("`{}` is not an IP address", item.value),
                Some("each entry is the IP of a Tars node, e.g. \"172.25.0.5\""),
            )),
            Ok(ip) if not_a_node_ip(ip).is_some() => errors.push(err(
                item_path,
                item.loc,
                format!("{ip} is {}", not_a_node_ip(ip).unwrap_or_default()),
                Some("each entry is the IP a Tars node registered with, e.g. \"172.25.0.5\""),
            )),
            Ok(ip) => match seen.get(&ip) {
                Some(first) => errors.push(err(
                    item_path,
                    item.loc,
                    format!("duplicate IP {ip} (also deploy_ip[{first}])"),
                    Some("one node per IP: remove the repeated entry"),
                )),
                None => {
                    seen.insert(ip, i);
                    ips.push(ip);
                }
            },
        }
    }
    Some(ips)
}

fn port(path: &str, field: &Opt<i64>, errors: &mut Vec<ConfigError>) -> Option<u16> {
    let f = field.as_ref()?;
    match u16::try_from(f.value) {
        Ok(p) if p >= 1 => Some(p),
        _ => {
            errors.push(err(
                path,
                f.loc,
                format!("port {} is outside 1..65535", f.value),
                None,
            ));
            None
        }
    }
}

/// The `ip:port` entries, and whether `"auto"` is one of them.
fn peers(path: &str, raw: &RawService, errors: &mut Vec<ConfigError>) -> (Vec<String>, bool) {
    let Some(list) = &raw.peers else {
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    let mut auto = false;
    for (i, item) in list.value.iter().enumerate() {
        if item.value.trim() == super::peers::AUTO {
            auto = true;
            continue;
        }
        match item.value.trim().parse::<SocketAddr>() {
            Ok(addr) if addr.port() != 0 => out.push(item.value.trim().to_string()),
            _ => errors.push(err(
                format!("{path}.peers[{i}]"),
                item.loc,
                format!("`{}` is not `ip:port` with a port in 1..65535", item.value),
                Some("write each peer as \"172.25.0.3:30300\", or \"auto\" for every gateway of the chain"),
            )),
        }
    }
    (out, auto)
}

/// BcosBuilder keeps the last of two agencies with one name; here it is an error.
fn check_duplicate_agencies(agencies: &[RawAgency], errors: &mut Vec<ConfigError>) {
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, a) in agencies.iter().enumerate() {
        let Some(name) = &a.name else { continue };
        if let Some(j) = first.get(name.value.as_str()) {
            errors.push(err(
                format!("agency[{i}].name"),
                name.loc,
                format!("duplicate agency name `{}` (also agency[{j}])", name.value),
                Some("each [[agency]] needs its own name"),
            ));
        } else {
            first.insert(&name.value, i);
        }
    }
}

/// Two services on one IP cannot both listen on one port, across all agencies.
fn check_port_clashes(agencies: &[RawAgency], errors: &mut Vec<ConfigError>) {
    let mut taken: BTreeMap<(IpAddr, i64), String> = BTreeMap::new();
    for (i, a) in agencies.iter().enumerate() {
        let name = a.name.as_ref().map_or("?", |n| n.value.as_str());
        for (kind, svc) in [("rpc", &a.rpc), ("gateway", &a.gateway)] {
            let Some(svc) = svc else { continue };
            let Some(ips) = &svc.deploy_ip else { continue };
            let port = svc
                .listen_port
                .as_ref()
                .map_or(i64::from(DEFAULT_LISTEN_PORT), |p| p.value);
            if !(1..=65535).contains(&port) {
                continue; // reported as out of range
            }
            let mut seen_here = Vec::new();
            for ip in ips.value.iter().filter_map(|ip| ip.value.parse::<IpAddr>().ok()) {
                if seen_here.contains(&ip) {
                    continue;
                }
                let port = super::nodes::raw_port_of(svc, ip).unwrap_or(port);
                seen_here.push(ip);
                let owner = format!("agency[{i}].{kind} (`{name}`)");
                if let Some(other) = taken.get(&(ip, port)) {
                    errors.push(err(
                        format!("agency[{i}].{kind}.listen_port"),
                        svc.listen_port.as_ref().and_then(|p| p.loc).or(svc.loc.0),
                        format!("{other} already listens on {ip} port {port}"),
                        Some("give each service on one host its own listen_port"),
                    ));
                } else {
                    taken.insert((ip, port), owner);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc<T>(value: T) -> Located<T> {
        Located { value, loc: None }
    }

    fn service(ips: &[&str], port: Option<i64>) -> RawService {
        RawService {
            deploy_ip: Some(loc(ips.iter().map(|s| loc(s.to_string())).collect())),
            listen_port: port.map(loc),
            ..RawService::default()
        }
    }

    fn raw(agencies: Vec<RawAgency>) -> RawTopology {
        RawTopology {
            tars: Some(RawTars {
                tars_url: Some(loc("http://127.0.0.1:3000".into())),
                tars_token: Some(loc(Secret::new("file-token"))),
                ..RawTars::default()
            }),
            agency: agencies,
            ..RawTopology::default()
        }
    }

    fn agency(name: &str, rpc: Option<RawService>, gateway: Option<RawService>) -> RawAgency {
        RawAgency {
            name: Some(loc(name.into())),
            rpc,
            gateway,
            ..RawAgency::default()
        }
    }

    fn run(raw: &RawTopology, env: Option<&str>) -> Result<Topology, Vec<ConfigError>> {
        let mut errors = Vec::new();
        validate(raw, env, &mut errors).ok_or(errors)
    }

    #[test]
    fn defaults_follow_bcosbuilder() {
        let t = run(
            &raw(vec![agency("agencyA", Some(service(&["10.0.0.1"], None)), None)]),
            None,
        )
        .unwrap();
        assert_eq!(t.chain.chain_id, "chain");
        assert_eq!(t.tars.url, "http://127.0.0.1:3000/");
        assert_eq!(t.tars.pkg_dir, PathBuf::from("binary"));
        assert_eq!(t.chain.rpc_ca_cert_path, PathBuf::from("generated/rpc/chain/ca"));
        assert_eq!(
            t.chain.gateway_ca_cert_path,
            PathBuf::from("generated/gateway/chain/ca")
        );
        assert!(!t.chain.rpc_ca_cert_path_explicit);
        let a = &t.agencies[0];
        assert_eq!(a.failover_cluster_url, "127.0.0.1:2379");
        let rpc = a.rpc.as_ref().unwrap();
        assert_eq!(
            (rpc.listen_ip.as_str(), rpc.listen_port, rpc.thread_count),
            ("0.0.0.0", 20200, 4)
        );
    }

    #[test]
    fn env_token_wins_over_the_file() {
        let r = raw(vec![]);
        assert_eq!(
            run(&r, Some("env-token")).unwrap().tars.token.expose(),
            "env-token"
        );
        assert_eq!(run(&r, Some("  ")).unwrap().tars.token.expose(), "file-token");
        assert_eq!(run(&r, None).unwrap().tars.token.expose(), "file-token");
    }

    #[test]
    fn tars_url_must_be_http() {
        assert_eq!(
            tars_url(" https://tars:3000 ").as_deref(),
            Some("https://tars:3000/")
        );
        assert_eq!(tars_url("http://h/").as_deref(), Some("http://h/"));
        for bad in ["ftp://h", "127.0.0.1:3000", "http://", "http:// h"] {
            assert_eq!(tars_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_are_letters_and_digits() {
        assert!(is_service_name("agencyA1"));
        for bad in ["", "agency-A", "a b", "中文", "_a"] {
            assert!(!is_service_name(bad), "{bad}");
        }
    }

    #[test]
    fn bad_ips_duplicates_and_empty_lists_are_each_reported() {
        let r = raw(vec![agency(
            "agencyA",
            Some(service(&["10.0.0.1", "host1", "10.0.0.1"], Some(1))),
            Some(service(&[], Some(2))),
        )]);
        let errs = run(&r, None).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "agency[0].rpc.deploy_ip[1]",
                "agency[0].rpc.deploy_ip[2]",
                "agency[0].gateway.deploy_ip"
            ]
        );
    }

    #[test]
    fn ports_outside_range_are_rejected() {
        for p in [0, 65536, 70000, -1] {
            let r = raw(vec![agency("a", Some(service(&["10.0.0.1"], Some(p))), None)]);
            let errs = run(&r, None).unwrap_err();
            assert_eq!(errs[0].path, "agency[0].rpc.listen_port", "{p}");
        }
        let r = raw(vec![agency("a", Some(service(&["10.0.0.1"], Some(65535))), None)]);
        assert!(run(&r, None).is_ok());
    }

    #[test]
    fn one_port_on_one_ip_across_agencies_clashes() {
        let r = raw(vec![
            agency("a", Some(service(&["10.0.0.1"], Some(20200))), None),
            agency("b", None, Some(service(&["10.0.0.2", "10.0.0.1"], Some(20200)))),
        ]);
        let errs = run(&r, None).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path, "agency[1].gateway.listen_port");
        assert!(
            errs[0].message.contains("agency[0].rpc (`a`)"),
            "{}",
            errs[0].message
        );
        // Default ports clash too: rpc and gateway both default to 20200.
        let r = raw(vec![agency(
            "a",
            Some(service(&["10.0.0.1"], None)),
            Some(service(&["10.0.0.1"], None)),
        )]);
        assert!(run(&r, None).is_err());
    }

    #[test]
    fn services_of_an_agency_without_name_are_still_checked() {
        let mut a = agency("x", Some(service(&["nope"], Some(1))), None);
        a.name = None;
        let errs = run(&raw(vec![a]), None).unwrap_err();
        assert_eq!(errs[0].path, "agency[0].rpc.deploy_ip[0]");
    }

    #[test]
    fn duplicate_agency_names_are_rejected() {
        let r = raw(vec![
            agency("a", Some(service(&["10.0.0.1"], Some(1))), None),
            agency("a", Some(service(&["10.0.0.1"], Some(2))), None),
        ]);
        let errs = run(&r, None).unwrap_err();
        assert_eq!(errs[0].path, "agency[1].name");
        assert!(errs[0].message.contains("duplicate agency name"));
    }

    #[test]
    fn peers_must_be_ip_and_port() {
        let mut gw = service(&["10.0.0.1"], Some(30300));
        gw.peers = Some(loc([
            "10.0.0.1:30300",
            "10.0.0.2",
            "host:1",
            "10.0.0.3:0",
            "10.0.0.3:99999",
            "[::1]:5",
        ]
        .iter()
        .map(|s| loc(s.to_string()))
        .collect()));
        let errs = run(&raw(vec![agency("a", None, Some(gw))]), None).unwrap_err();
        let bad: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            bad,
            [
                "agency[0].gateway.peers[1]",
                "agency[0].gateway.peers[2]",
                "agency[0].gateway.peers[3]",
                "agency[0].gateway.peers[4]"
            ]
        );
    }

    #[test]
    fn sm_ssl_flags_are_accepted_and_independent() {
        let mut r = raw(vec![]);
        r.chain = Some(RawChain {
            rpc_sm_ssl: Some(loc(true)),
            gateway_sm_ssl: Some(loc(false)),
            ..RawChain::default()
        });
        let t = run(&r, None).unwrap();
        assert!(t.chain.rpc_sm_ssl && !t.chain.gateway_sm_ssl);
        assert!(t.chain.cert_mode(ServiceKind::Rpc).is_sm());
        assert!(!t.chain.cert_mode(ServiceKind::Gateway).is_sm());
    }

    #[test]
    fn storage_security_needs_a_key_center_and_a_cipher_key() {
        let mut a = agency("a", Some(service(&["10.0.0.1"], None)), None);
        a.enable_storage_security = Some(loc(true));
        let errs = run(&raw(vec![a.clone()]), None).unwrap_err();
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["agency[0].key_center_url", "agency[0].cipher_data_key"]);
        a.key_center_url = Some(loc("http://127.0.0.1:8150".into()));
        a.cipher_data_key = Some(loc("c1".into()));
        let errs = run(&raw(vec![a.clone()]), None).unwrap_err();
        assert_eq!(errs[0].message, "`http://127.0.0.1:8150` is not `ip:port`");
        a.key_center_url = Some(loc("127.0.0.1:8150".into()));
        let t = run(&raw(vec![a]), None).unwrap();
        assert!(t.agencies[0].enable_storage_security);
    }

    #[test]
    fn control_characters_in_rendered_text_are_refused_without_quoting_it() {
        let mut a = agency("a", Some(service(&["10.0.0.1"], None)), None);
        a.key_center_url = Some(Located {
            value: "127.0.0.1:31443\n[storage_security]\nenable=false".into(),
            loc: Some((7, 18)),
        });
        a.cipher_data_key = Some(loc("0123456789abcdef\u{202e}".into()));
        a.failover_cluster_url = Some(loc("127.0.0.1:2379\u{1b}[31m".into()));
        let errs = run(&raw(vec![a]), None).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "agency[0].failover_cluster_url",
                "agency[0].key_center_url",
                "agency[0].cipher_data_key"
            ]
        );
        assert_eq!(errs[1].location, Some((7, 18)));
        assert!(
            errs[1].message.contains("a newline (character 16"),
            "{}",
            errs[1].message
        );
        assert!(errs[2].message.contains("U+202E"), "{}", errs[2].message);
        assert!(errs.iter().all(|e| !e.message.contains("0123456789abcdef")));
        assert!(errs.iter().all(|e| e.hint.is_some()));
    }

    #[test]
    fn long_names_are_refused() {
        let long = "a".repeat(MAX_NAME_CHARS + 1);
        let mut r = raw(vec![agency(&long, None, None)]);
        r.chain = Some(RawChain {
            chain_id: Some(loc(long.clone())),
            ..RawChain::default()
        });
        let errs = run(&r, None).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["chain.chain_id", "agency[0].name"]);
        let ok = "a".repeat(MAX_NAME_CHARS);
        assert!(run(&raw(vec![agency(&ok, None, None)]), None).is_ok());
    }

    #[test]
    fn unspecified_broadcast_and_multicast_node_ips_are_refused() {
        let bad = [
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "239.1.2.3",
            "::",
            "ff02::1",
        ];
        let mut ips = bad.to_vec();
        ips.push("10.0.0.255");
        let errs = run(&raw(vec![agency("a", Some(service(&ips, None)), None)]), None).unwrap_err();
        assert_eq!(errs.len(), bad.len(), "{errs:?}");
        for (i, e) in errs.iter().enumerate() {
            assert_eq!(e.path, format!("agency[0].rpc.deploy_ip[{i}]"));
        }
        assert!(errs[0].message.contains("unspecified"));
        assert!(errs[1].message.contains("broadcast"));
        assert!(errs[2].message.contains("multicast"));
    }

    #[test]
    fn credentials_in_tars_url_are_refused_and_never_shown() {
        for url in ["http://admin:hunter22@127.0.0.1:3000", "https://admin@tars:3000/"] {
            let mut r = raw(vec![]);
            r.tars.as_mut().unwrap().tars_url = Some(Located {
                value: url.into(),
                loc: Some((2, 12)),
            });
            let errs = run(&r, None).unwrap_err();
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert_eq!(
                (errs[0].path.as_str(), errs[0].location),
                ("tars.tars_url", Some((2, 12)))
            );
            assert!(
                errs[0].message.contains("user name or password"),
                "{}",
                errs[0].message
            );
            assert!(!errs[0].message.contains("hunter22") && !errs[0].message.contains("admin"));
        }
        assert!(!has_credentials("http://127.0.0.1:3000/path?x=a@b"));
        assert!(has_credentials("http://u:p#x@127.0.0.1:3000"));
        assert_eq!(
            without_credentials("http://u:p#x@h:1/a"),
            "http://(sensitive)@h:1/a"
        );
    }

    #[test]
    fn short_tokens_are_refused_wherever_they_come_from() {
        let mut r = raw(vec![]);
        r.tars.as_mut().unwrap().tars_token = Some(Located {
            value: Secret::new("t"),
            loc: Some((3, 14)),
        });
        let errs = run(&r, None).unwrap_err();
        assert_eq!(
            (errs[0].path.as_str(), errs[0].location),
            ("tars.tars_token", Some((3, 14)))
        );
        assert!(errs[0].message.contains("shorter than 8"), "{}", errs[0].message);
        let errs = run(&raw(vec![]), Some("short")).unwrap_err();
        assert_eq!(errs[0].path, "TARSFORM_TARS_TOKEN");
        assert!(run(&r, Some("long-enough-token")).is_ok());
        r.tars.as_mut().unwrap().tars_token = None;
        assert!(
            run(&r, None).is_ok(),
            "no token at all is fine for offline commands"
        );
    }

    #[test]
    fn explicit_ca_paths_are_kept_and_flagged() {
        let mut r = raw(vec![]);
        r.chain = Some(RawChain {
            chain_id: Some(loc("chain0".into())),
            rpc_ca_cert_path: Some(loc(" my/ca ".into())),
            ..RawChain::default()
        });
        let t = run(&r, None).unwrap();
        assert_eq!(t.chain.rpc_ca_cert_path, PathBuf::from("my/ca"));
        assert!(t.chain.rpc_ca_cert_path_explicit);
        assert_eq!(
            t.chain.gateway_ca_cert_path,
            PathBuf::from("generated/gateway/chain0/ca")
        );
    }
}
