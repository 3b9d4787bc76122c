//! `[tars.packages.<rpc|gateway|server name>]` (tarsform only): a service's release
//! archive pinned by version and sha256, with a directory or an http(s) URL to fetch it
//! from at apply time. A server-name key wins over its service type's key. Pure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ConfigError;
use super::model::ServiceKind;
use super::schema::RawPackage;
use crate::secret::Secret;

/// A release archive (`BcosRpcService.tgz` / `BcosGatewayService.tgz`) named by digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackagePin {
    /// A label for people (`v3.4.0`); the digest is what counts.
    pub version: String,
    /// Lowercase hex sha256 of the release archive.
    pub sha256: String,
    pub source: PackageSource,
}

/// Where apply fetches the archive when it is not in the cache yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageSource {
    /// A directory holding `BcosRpcService.tgz` / `BcosGatewayService.tgz` (relative
    /// paths are relative to the topology file, resolved by `config::load`).
    Dir(PathBuf),
    /// An http(s) URL of the archive. Only its redacted form (no `user:password@`) is
    /// serialized or shown.
    Url {
        #[serde(skip)]
        url: Secret,
        shown: String,
    },
}

impl PackageSource {
    /// The source as it may be printed: a URL without credentials, or the directory.
    pub fn shown(&self) -> String {
        match self {
            PackageSource::Dir(dir) => dir.display().to_string(),
            PackageSource::Url { shown, .. } => shown.clone(),
        }
    }
}

impl PackagePin {
    /// `v3.4.0 (sha256 9f86d081…)`: how plans and errors name the package.
    pub fn label(&self) -> String {
        format!("{} (sha256 {})", self.version, &self.sha256[..12])
    }
}

/// The pin of `server` (of type `kind`): its own key first, then its type's.
pub fn pin_for<'a>(
    packages: &'a BTreeMap<String, PackagePin>,
    server: &str,
    kind: ServiceKind,
) -> Option<&'a PackagePin> {
    packages.get(server).or_else(|| packages.get(kind.as_str()))
}

/// Checks every `[tars.packages.*]` table; bad ones are left out after their error.
pub fn validate(
    raw: &BTreeMap<String, RawPackage>,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, PackagePin> {
    let mut out = BTreeMap::new();
    for (key, pkg) in raw {
        let path = format!("tars.packages.{key}");
        let before = errors.len();
        let field_loc = |field: &str| {
            let located = match field {
                "version" => &pkg.version,
                "sha256" => &pkg.sha256,
                "url" => &pkg.url,
                "dir" => &pkg.dir,
                _ => &None,
            };
            located.as_ref().and_then(|l| l.loc).or(pkg.loc.0)
        };
        let mut fail = |field: &str, message: String, hint: &str| {
            errors.push(ConfigError {
                path: if field.is_empty() {
                    path.clone()
                } else {
                    format!("{path}.{field}")
                },
                location: field_loc(field),
                message,
                hint: Some(hint.to_string()),
            });
        };
        let known_key = key == "rpc"
            || key == "gateway"
            || ServiceKind::ALL.iter().any(|k| {
                key.strip_suffix(k.binary_name())
                    .is_some_and(super::is_service_name)
            });
        if !known_key {
            fail(
                "",
                format!("unknown package key `{}`", key.escape_debug()),
                "use `rpc`, `gateway`, or a server name such as `agencyABcosRpcService`",
            );
        }
        let version = pkg.version.as_ref().map(|v| v.value.trim().to_string());
        match &version {
            None => fail(
                "version",
                "missing `version`".into(),
                "e.g. `version = \"v3.4.0\"`",
            ),
            Some(v) if v.is_empty() || v.chars().count() > 64 || v.chars().any(char::is_control) => fail(
                "version",
                format!("`{}` is not a version label", v.escape_debug()),
                "1 to 64 printable characters, e.g. `v3.4.0`",
            ),
            Some(_) => {}
        }
        let sha256 = pkg.sha256.as_ref().map(|s| s.value.trim().to_ascii_lowercase());
        match &sha256 {
            None => fail(
                "sha256",
                "missing `sha256`".into(),
                "the release archive's digest: `sha256sum BcosRpcService.tgz`",
            ),
            Some(s) if !is_sha256_hex(s) => fail(
                "sha256",
                format!("`{}` is not a sha256 digest", s.escape_debug()),
                "64 hexadecimal digits, as `sha256sum` prints them",
            ),
            Some(_) => {}
        }
        let source = match (&pkg.url, &pkg.dir) {
            (Some(url), None) => url_source(&url.value, &mut fail),
            (None, Some(dir)) if !dir.value.trim().is_empty() && !dir.value.contains('\0') => {
                Some(PackageSource::Dir(PathBuf::from(dir.value.trim())))
            }
            (None, Some(_)) => {
                fail(
                    "dir",
                    "`dir` is empty".into(),
                    "the directory holding the release archive",
                );
                None
            }
            (Some(_), Some(_)) => {
                fail(
                    "",
                    "both `url` and `dir` are set".into(),
                    "keep one source: `url = \"https://…/BcosRpcService.tgz\"` or `dir = \"releases/v3.4.0\"`",
                );
                None
            }
            (None, None) => {
                fail(
                    "",
                    "no source: set `url` or `dir`".into(),
                    "apply fetches the archive from there when it is not cached",
                );
                None
            }
        };
        if errors.len() == before
            && let (Some(version), Some(sha256), Some(source)) = (version, sha256, source)
        {
            out.insert(
                key.clone(),
                PackagePin {
                    version,
                    sha256,
                    source,
                },
            );
        }
    }
    out
}

fn url_source(raw: &str, fail: &mut impl FnMut(&str, String, &str)) -> Option<PackageSource> {
    let url = raw.trim();
    let shown = without_userinfo(url);
    let lower = url.to_ascii_lowercase();
    let rest = ["http://", "https://"].iter().find_map(|s| lower.strip_prefix(s));
    let valid = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        fail(
            "url",
            format!("`{}` is not an http:// or https:// URL", shown.escape_debug()),
            "the archive's address, e.g. `https://mirror.example/v3.4.0/BcosRpcService.tgz`",
        );
        return None;
    }
    Some(PackageSource::Url {
        url: Secret::new(url),
        shown,
    })
}

/// `url` with any `user:password@` before the host replaced by `(sensitive)@`.
pub fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}(sensitive)@{host}{}", &rest[end..]),
        None => url.to_string(),
    }
}

pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Server-name keys of `[tars.packages]` that name no service of `topology` (checked
/// once every `-c` file is merged: a pin may sit in another file than its agency).
pub fn unknown_servers(topology: &super::Topology) -> Vec<String> {
    let servers: Vec<String> = topology.services().map(|s| s.server_name()).collect();
    topology
        .tars
        .packages
        .keys()
        .filter(|k| *k != "rpc" && *k != "gateway" && !servers.contains(k))
        .cloned()
        .collect()
}

/// Relative `dir` sources made relative to the directory of the topology file.
pub fn resolve_dirs(packages: &mut BTreeMap<String, PackagePin>, topology_file: &Path) {
    let base = topology_file.parent().unwrap_or(Path::new(""));
    for pin in packages.values_mut() {
        if let PackageSource::Dir(dir) = &mut pin.source
            && dir.is_relative()
        {
            *dir = base.join(&*dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::Located;

    fn raw(fields: &[(&str, &str)]) -> RawPackage {
        let get = |k: &str| {
            fields.iter().find(|(f, _)| *f == k).map(|(_, v)| Located {
                value: v.to_string(),
                loc: None,
            })
        };
        RawPackage {
            version: get("version"),
            sha256: get("sha256"),
            url: get("url"),
            dir: get("dir"),
            loc: Default::default(),
        }
    }

    const SHA: &str = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";

    #[test]
    fn a_url_pin_keeps_the_url_and_shows_it_without_credentials() {
        let mut errors = Vec::new();
        let input = BTreeMap::from([(
            "rpc".to_string(),
            raw(&[
                ("version", "v3.4.0"),
                ("sha256", SHA),
                ("url", "https://bob:hunter2@example.org/BcosRpcService.tgz"),
            ]),
        )]);
        let pins = validate(&input, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let pin = &pins["rpc"];
        assert_eq!(pin.sha256, SHA.to_ascii_lowercase());
        assert_eq!(
            pin.source.shown(),
            "https://(sensitive)@example.org/BcosRpcService.tgz"
        );
        let json = serde_json::to_string(pin).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert_eq!(
            pin_for(&pins, "agencyABcosRpcService", ServiceKind::Rpc),
            Some(pin)
        );
        assert_eq!(
            pin_for(&pins, "agencyABcosGatewayService", ServiceKind::Gateway),
            None
        );
    }

    #[test]
    fn bad_pins_name_the_key_and_what_to_do() {
        let cases = [
            (
                "rpc",
                raw(&[("version", "v1"), ("sha256", "abc"), ("dir", "d")]),
                "tars.packages.rpc.sha256",
            ),
            (
                "rpc",
                raw(&[("version", "v1"), ("sha256", SHA), ("url", "ftp://x/y")]),
                "tars.packages.rpc.url",
            ),
            (
                "rpc",
                raw(&[("version", "v1"), ("sha256", SHA)]),
                "tars.packages.rpc",
            ),
            (
                "rpc",
                raw(&[
                    ("version", "v1"),
                    ("sha256", SHA),
                    ("dir", "d"),
                    ("url", "http://h/x"),
                ]),
                "tars.packages.rpc",
            ),
            (
                "rpc",
                raw(&[("sha256", SHA), ("dir", "d")]),
                "tars.packages.rpc.version",
            ),
            (
                "agencyA",
                raw(&[("version", "v1"), ("sha256", SHA), ("dir", "d")]),
                "tars.packages.agencyA",
            ),
        ];
        for (key, pkg, path) in cases {
            let mut errors = Vec::new();
            let pins = validate(&BTreeMap::from([(key.to_string(), pkg)]), &mut errors);
            assert!(pins.is_empty());
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].path, path);
            assert!(errors[0].hint.is_some());
        }
    }

    #[test]
    fn a_relative_dir_follows_the_topology_file() {
        let mut errors = Vec::new();
        let mut pins = validate(
            &BTreeMap::from([
                (
                    "gateway".to_string(),
                    raw(&[("version", "v1"), ("sha256", SHA), ("dir", "rel")]),
                ),
                (
                    "rpc".to_string(),
                    raw(&[("version", "v1"), ("sha256", SHA), ("dir", "/abs")]),
                ),
            ]),
            &mut errors,
        );
        resolve_dirs(&mut pins, Path::new("conf/config.toml"));
        assert_eq!(pins["gateway"].source, PackageSource::Dir("conf/rel".into()));
        assert_eq!(pins["rpc"].source, PackageSource::Dir("/abs".into()));
    }
}
