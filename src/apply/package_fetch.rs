//! Release archives pinned by digest (`[tars.packages]`): before any Tars change, apply
//! makes sure each one the plan uploads is in the content-addressed cache
//! (`generated/packages/by-sha256/<hex>.tgz`). A cached archive is re-verified and used
//! as is; otherwise it is read from its directory or downloaded (bounded in size and
//! time), verified against the pinned sha256, and written via a temp file and a rename.
//! A URL's `user:password@` never appears in a message.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::addr::ResourceKind;
use crate::config::{PackagePin, PackageSource, ServiceKind, Topology, pin_for};
use crate::plan::{Action, PINNED_PREFIX, Plan, pinned_identity};
use crate::render::package::{input_archive_name, sha256_hex};
use crate::workspace::Layout;

/// The size limit's environment variable (bytes, or with a `KiB`/`MiB`/`GiB` suffix).
pub const MAX_SIZE_ENV: &str = "TARSFORM_PACKAGE_MAX_SIZE";
/// The download time limit's environment variable (`90s`, `10m`).
pub const TIMEOUT_ENV: &str = "TARSFORM_PACKAGE_TIMEOUT";

/// Bounds of one fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    pub max_bytes: u64,
    /// The whole download, from connecting to the last byte.
    pub timeout: Duration,
}

impl Default for FetchLimits {
    /// 1 GiB (a FISCO-BCOS service archive is tens of MiB) and 10 minutes.
    fn default() -> Self {
        FetchLimits {
            max_bytes: 1 << 30,
            timeout: Duration::from_secs(600),
        }
    }
}

/// What [`ensure_cached`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// The archive was in the cache with the pinned digest.
    Hit,
    /// Fetched (this many bytes), verified and written to the cache.
    Fetched(u64),
}

/// The archive of `kind` pinned by `pin` in `cache`, fetched when absent or damaged.
/// `servers` name the services using it (for messages).
pub async fn ensure_cached(
    pin: &PackagePin,
    kind: ServiceKind,
    cache: &Path,
    servers: &str,
    limits: &FetchLimits,
) -> Result<Cached, String> {
    if let Ok(bytes) = std::fs::read(cache) {
        if sha256_hex(&bytes) == pin.sha256 {
            return Ok(Cached::Hit);
        }
        // A damaged or foreign file under the digest's name: fetch it again.
        std::fs::remove_file(cache).map_err(|e| format!("{}: cannot remove: {e}", cache.display()))?;
    }
    let from = source_text(pin, kind);
    let bytes = match &pin.source {
        PackageSource::Dir(dir) => read_bounded(&dir.join(input_archive_name(kind)), limits)?,
        PackageSource::Url { url, shown } => download(url.expose(), shown, limits).await?,
    };
    let actual = sha256_hex(&bytes);
    if actual != pin.sha256 {
        return Err(format!(
            "package of {servers} (release {}): {from} has sha256 {actual}, but the topology pins {}; nothing was uploaded to Tars\nhint: check the source, or if the new archive is the intended one, put its digest in `[tars.packages]` and plan again",
            pin.version, pin.sha256
        ));
    }
    write_atomically(cache, &bytes)?;
    Ok(Cached::Fetched(bytes.len() as u64))
}

/// Every pinned archive the plan needs, in the cache and verified. Returns one line per
/// archive saying what was done. An error means nothing was changed in Tars.
pub async fn ensure_for_plan(
    plan: &Plan,
    topology: &Topology,
    root: &str,
    limits: &FetchLimits,
) -> Result<Vec<String>, String> {
    let layout = Layout::new(root, topology.application());
    let mut wanted: BTreeMap<String, (PackagePin, ServiceKind, Vec<String>)> = BTreeMap::new();
    for change in &plan.changes {
        if change.address.kind() != ResourceKind::Server || change.action == Action::Delete {
            continue;
        }
        let Some(identity) = change
            .attr_str("package_sha256")
            .filter(|s| s.starts_with(PINNED_PREFIX))
        else {
            continue;
        };
        let server = change.address.server_name().unwrap_or_default();
        let kind = ServiceKind::of_server(server)
            .ok_or_else(|| format!("{}: not an rpc or gateway server name", change.address))?;
        let pin = pin_for(&topology.tars.packages, server, kind)
            .filter(|p| pinned_identity(&p.sha256) == identity)
            .ok_or_else(|| {
                format!(
                    "{}: the plan uploads {identity}, which `[tars.packages]` does not pin now\nhint: run `tarsform plan` again",
                    change.address
                )
            })?;
        let cache = layout.package_cache_path(&pin.sha256);
        if change.attr_str("package_source") != Some(&*cache.to_string_lossy()) {
            return Err(format!(
                "{}: the plan reads the package from {:?}, not from the cache {}\nhint: run `tarsform plan` again",
                change.address,
                change.attr_str("package_source").unwrap_or_default(),
                cache.display()
            ));
        }
        let key = format!("{}:{}", kind.as_str(), pin.sha256);
        wanted
            .entry(key)
            .or_insert_with(|| (pin.clone(), kind, Vec::new()))
            .2
            .push(server.to_string());
    }
    let mut report = Vec::new();
    for (pin, kind, servers) in wanted.values() {
        let cache = layout.package_cache_path(&pin.sha256);
        let servers = servers.join(", ");
        let line = match ensure_cached(pin, *kind, &cache, &servers, limits).await? {
            Cached::Hit => format!(
                "package {} {}: in the cache {} (sha256 verified)",
                input_archive_name(*kind),
                pin.version,
                cache.display()
            ),
            Cached::Fetched(size) => format!(
                "package {} {}: {} {size} bytes from {}, sha256 verified, cached at {}",
                input_archive_name(*kind),
                pin.version,
                match pin.source {
                    PackageSource::Dir(_) => "read",
                    PackageSource::Url { .. } => "downloaded",
                },
                pin.source.shown(),
                cache.display()
            ),
        };
        report.push(line);
    }
    Ok(report)
}

fn source_text(pin: &PackagePin, kind: ServiceKind) -> String {
    match &pin.source {
        PackageSource::Dir(dir) => dir.join(input_archive_name(kind)).display().to_string(),
        PackageSource::Url { shown, .. } => shown.clone(),
    }
}

fn read_bounded(path: &Path, limits: &FetchLimits) -> Result<Vec<u8>, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{}: cannot read the release archive: {e}", path.display()))?
        .len();
    if size > limits.max_bytes {
        return Err(too_big(&path.display().to_string(), limits));
    }
    std::fs::read(path).map_err(|e| format!("{}: cannot read the release archive: {e}", path.display()))
}

fn too_big(from: &str, limits: &FetchLimits) -> String {
    format!(
        "{from}: the archive is larger than {} bytes; nothing was uploaded to Tars\nhint: check the URL, or raise the limit with {MAX_SIZE_ENV}",
        limits.max_bytes
    )
}

/// GET `url` (http/https only), at most `limits.max_bytes`, within `limits.timeout`.
async fn download(url: &str, shown: &str, limits: &FetchLimits) -> Result<Vec<u8>, String> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!("{shown}: only http:// and https:// URLs are fetched"));
    }
    let fail = |e: reqwest::Error| {
        let what = if e.is_timeout() {
            format!("no complete answer within {:?}", limits.timeout)
        } else {
            e.without_url().to_string()
        };
        format!(
            "{shown}: download failed: {what}; nothing was uploaded to Tars\nhint: check the URL and the network, or raise {TIMEOUT_ENV} for a slow link"
        )
    };
    let client = reqwest::Client::builder()
        .connect_timeout(limits.timeout.min(Duration::from_secs(30)))
        .timeout(limits.timeout)
        .build()
        .map_err(fail)?;
    let mut response = client.get(url).send().await.map_err(fail)?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "{shown}: the server answered {status}; nothing was uploaded to Tars\nhint: check `url` in `[tars.packages]`"
        ));
    }
    if response.content_length().is_some_and(|n| n > limits.max_bytes) {
        return Err(too_big(shown, limits));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(fail)? {
        if bytes.len() as u64 + chunk.len() as u64 > limits.max_bytes {
            return Err(too_big(shown, limits));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `bytes` at `path` via a temp file in the same directory and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let io = |e: std::io::Error| format!("{}: cannot write the cached archive: {e}", path.display());
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// `123`, `64KiB`, `512MiB`, `2GiB` (binary units).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let shift = match unit.trim() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => return None,
    };
    digits
        .parse::<u64>()
        .ok()?
        .checked_mul(1 << shift)
        .filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin_in(dir: &Path, bytes: &[u8]) -> PackagePin {
        PackagePin {
            version: "v1".into(),
            sha256: sha256_hex(bytes),
            source: PackageSource::Dir(dir.to_path_buf()),
        }
    }

    #[tokio::test]
    async fn a_cached_archive_is_used_and_a_damaged_one_fetched_again() {
        let tmp = tempfile::tempdir().unwrap();
        let release = tmp.path().join("release");
        std::fs::create_dir_all(&release).unwrap();
        let archive = b"release archive bytes".to_vec();
        std::fs::write(release.join("BcosRpcService.tgz"), &archive).unwrap();
        let pin = pin_in(&release, &archive);
        let cache = tmp
            .path()
            .join("cache/by-sha256")
            .join(format!("{}.tgz", pin.sha256));
        let limits = FetchLimits::default();
        let fetch = || ensure_cached(&pin, ServiceKind::Rpc, &cache, "rpc", &limits);
        assert_eq!(fetch().await, Ok(Cached::Fetched(archive.len() as u64)));
        assert_eq!(std::fs::read(&cache).unwrap(), archive);
        // Cached: the source is no longer needed.
        std::fs::remove_file(release.join("BcosRpcService.tgz")).unwrap();
        assert_eq!(fetch().await, Ok(Cached::Hit));
        // Damaged: fetched again from the source.
        std::fs::write(&cache, b"torn").unwrap();
        std::fs::write(release.join("BcosRpcService.tgz"), &archive).unwrap();
        assert_eq!(fetch().await, Ok(Cached::Fetched(archive.len() as u64)));
        assert_eq!(std::fs::read(&cache).unwrap(), archive);
        // Too large for the limit: refused, nothing cached.
        std::fs::remove_file(&cache).unwrap();
        let small = FetchLimits {
            max_bytes: 4,
            ..FetchLimits::default()
        };
        let err = ensure_cached(&pin, ServiceKind::Rpc, &cache, "rpc", &small)
            .await
            .unwrap_err();
        assert!(err.contains("larger than 4 bytes"), "{err}");
        assert!(!cache.exists());
    }

    #[test]
    fn sizes_read_binary_units() {
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("1.5GiB"), None);
        assert_eq!(parse_size("10MB"), None);
    }
}
