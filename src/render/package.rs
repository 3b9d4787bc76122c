//! The Tars package of a server: `<server>.tgz` with the single entry `<server>/<server>`,
//! the service binary taken from BcosBuilder's input archive
//! (`tars_pkg_dir/BcosRpcService.tgz` holding `BcosRpcService/BcosRpcService`, or Gateway).
//!
//! Byte-deterministic: fixed mtime (0), uid/gid 0, empty owner names, fixed gzip header and
//! compression level, so the same input always gives the same sha256.

use std::io::{Read, Write};
use std::path::{Component, Path};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use crate::config::ServiceKind;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(
        "archive `{archive}` is not a readable gzip tar: {source}\nhint: use the release archive {archive} from FISCO-BCOS unchanged"
    )]
    Unreadable { archive: String, source: std::io::Error },
    #[error(
        "archive `{archive}` has no entry `{entry}`\nhint: tars_pkg_dir must hold the FISCO-BCOS release archive renamed to {archive}"
    )]
    MissingEntry { archive: String, entry: String },
    #[error("archive `{archive}`: entry `{entry}` is not a regular file")]
    NotAFile { archive: String, entry: String },
    #[error("cannot build the package of `{server}`: {source}")]
    Build { server: String, source: std::io::Error },
}

/// The input archive's file name in `tars_pkg_dir`: `BcosRpcService.tgz` / `BcosGatewayService.tgz`.
pub fn input_archive_name(kind: ServiceKind) -> String {
    format!("{}.tgz", kind.binary_name())
}

/// Repackages the binary of `input_tgz` as `<server_name>/<server_name>` (mode kept).
pub fn build(input_tgz: &[u8], kind: ServiceKind, server_name: &str) -> Result<Vec<u8>, PackageError> {
    Release::read(input_tgz, kind)?.build(server_name)
}

/// The service binary of a release archive, read once for all servers of its kind.
#[derive(Debug, Clone)]
pub struct Release {
    mode: u32,
    binary: Vec<u8>,
}

impl Release {
    /// The `<binary>/<binary>` entry of `input_tgz` (BcosBuilder's input archive of `kind`).
    pub fn read(input_tgz: &[u8], kind: ServiceKind) -> Result<Self, PackageError> {
        let (mode, binary) = find_binary(input_tgz, kind, &input_archive_name(kind))?;
        Ok(Release { mode, binary })
    }

    /// The package of `server_name`: the binary as `<server_name>/<server_name>`.
    pub fn build(&self, server_name: &str) -> Result<Vec<u8>, PackageError> {
        let build_err = |source| PackageError::Build {
            server: server_name.to_string(),
            source,
        };
        let gzip = flate2::GzBuilder::new()
            .mtime(0)
            .operating_system(3)
            .write(Vec::new(), Compression::new(6));
        let mut gzip = self
            .append_to(tar::Builder::new(gzip), server_name)
            .map_err(build_err)?;
        gzip.flush().map_err(build_err)?;
        gzip.finish().map_err(build_err)
    }

    /// Whether `package` holds exactly what [`Release::build`] packs for `server_name`
    /// (any gzip encoding of it): an earlier build is then used as it is, since
    /// decompressing is many times faster than compressing.
    pub fn is_packed_in(&self, package: &[u8], server_name: &str) -> bool {
        let Ok(expected) = self.append_to(tar::Builder::new(Vec::new()), server_name) else {
            return false;
        };
        let limit = expected.len() as u64 + 1;
        let mut content = Vec::with_capacity(expected.len());
        let decoded = MultiGzDecoder::new(package).take(limit).read_to_end(&mut content);
        decoded.is_ok() && content == expected
    }

    fn append_to<W: Write>(&self, mut tar: tar::Builder<W>, server_name: &str) -> std::io::Result<W> {
        let mut header = tar::Header::new_gnu();
        header.set_size(self.binary.len() as u64);
        header.set_mode(self.mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("")?;
        header.set_groupname("")?;
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(
            &mut header,
            format!("{server_name}/{server_name}"),
            self.binary.as_slice(),
        )?;
        tar.into_inner()
    }
}

/// Packages built by this process, by sha256, for a later step of the same run (the plan
/// of `apply` builds every package to learn its digest; the upload then needs the same
/// bytes). Kept only after [`keep_builds`], at most [`MEMO_BYTES`]; beyond that, apply
/// builds again.
static MEMO: std::sync::Mutex<Vec<(String, std::sync::Arc<Vec<u8>>)>> = std::sync::Mutex::new(Vec::new());
static KEEP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
const MEMO_BYTES: usize = 512 << 20;

/// From now on, packages built are kept for [`recall`] (an apply plans, then uploads;
/// a plan alone keeps nothing).
pub fn keep_builds() {
    KEEP.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Keeps `package` (whose sha256 is `sha256`) for [`recall`], within the budget.
pub fn remember(sha256: &str, package: std::sync::Arc<Vec<u8>>) {
    if !KEEP.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    let held: usize = memo.iter().map(|(_, p)| p.len()).sum();
    if held + package.len() <= MEMO_BYTES && !memo.iter().any(|(s, _)| s == sha256) {
        memo.push((sha256.to_string(), package));
    }
}

/// A package this process built whose sha256 is `sha256`.
pub fn recall(sha256: &str) -> Option<std::sync::Arc<Vec<u8>>> {
    let memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    memo.iter().find(|(s, _)| s == sha256).map(|(_, p)| p.clone())
}

/// A release-style archive (`<binary>/<binary>`, like FISCO-BCOS's
/// `BcosRpcService.tgz`) whose binary is a shell script: a stand-in for demos, tests and
/// benchmarks, where Tars never runs the package.
pub fn stand_in_release(kind: ServiceKind) -> Vec<u8> {
    let binary = kind.binary_name();
    let script = format!("#!/bin/sh\necho \"{binary}: stand-in for the real service\"\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(script.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), Compression::default()));
    archive
        .append_data(&mut header, format!("{binary}/{binary}"), script.as_bytes())
        .and_then(|()| archive.into_inner())
        .and_then(|gzip| gzip.finish())
        .expect("writing an archive into memory cannot fail")
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The mode and content of `<binary>/<binary>` (a leading `./` is tolerated).
fn find_binary(input_tgz: &[u8], kind: ServiceKind, archive: &str) -> Result<(u32, Vec<u8>), PackageError> {
    let binary = kind.binary_name();
    let entry_name = format!("{binary}/{binary}");
    let unreadable = |source| PackageError::Unreadable {
        archive: archive.to_string(),
        source,
    };
    let mut tar = tar::Archive::new(MultiGzDecoder::new(input_tgz));
    for entry in tar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        if !is_entry(&entry.path().map_err(unreadable)?, binary) {
            continue;
        }
        let entry_type = entry.header().entry_type();
        if !entry_type.is_file() {
            return Err(PackageError::NotAFile {
                archive: archive.to_string(),
                entry: entry_name,
            });
        }
        let mode = entry.header().mode().map_err(unreadable)? & 0o7777;
        let mut content = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut content).map_err(unreadable)?;
        return Ok((mode, content));
    }
    Err(PackageError::MissingEntry {
        archive: archive.to_string(),
        entry: entry_name,
    })
}

/// Whether `path` is `<binary>/<binary>`, ignoring `.` components.
fn is_entry(path: &Path, binary: &str) -> bool {
    let parts: Vec<_> = path.components().filter(|c| *c != Component::CurDir).collect();
    parts.len() == 2 && parts.iter().all(|c| c.as_os_str() == binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gzip tar with one file entry at `path`.
    fn archive(path: &str, content: &[u8], mode: u32) -> Vec<u8> {
        let mut header = tar::Header::new_ustar();
        header.set_size(content.len() as u64);
        header.set_mode(mode);
        header.set_mtime(1_700_000_000);
        header.set_uid(1000);
        let gz = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
        let mut tar = tar::Builder::new(gz);
        tar.append_data(&mut header, path, content).unwrap();
        tar.into_inner().unwrap().finish().unwrap()
    }

    fn only_entry(tgz: &[u8]) -> (String, u32, u64, u64, Vec<u8>) {
        let mut tar = tar::Archive::new(MultiGzDecoder::new(tgz));
        let mut found = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut e = entry.unwrap();
            let mut content = Vec::new();
            e.read_to_end(&mut content).unwrap();
            let h = e.header();
            found.push((
                e.path().unwrap().display().to_string(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
                h.uid().unwrap(),
                content,
            ));
        }
        assert_eq!(found.len(), 1);
        found.remove(0)
    }

    #[test]
    fn renames_the_binary_and_fixes_metadata() {
        let input = archive("./BcosRpcService/BcosRpcService", b"ELF...", 0o755);
        let out = build(&input, ServiceKind::Rpc, "agencyABcosRpcService").unwrap();
        let (path, mode, mtime, uid, content) = only_entry(&out);
        assert_eq!(path, "agencyABcosRpcService/agencyABcosRpcService");
        assert_eq!((mode, mtime, uid), (0o755, 0, 0));
        assert_eq!(content, b"ELF...");
    }

    #[test]
    fn a_package_is_recognised_by_its_content_whatever_its_compression() {
        let input = archive("BcosRpcService/BcosRpcService", &[7u8; 70_000], 0o755);
        let release = Release::read(&input, ServiceKind::Rpc).unwrap();
        let built = release.build("agencyABcosRpcService").unwrap();
        assert_eq!(
            built,
            build(&input, ServiceKind::Rpc, "agencyABcosRpcService").unwrap()
        );
        assert!(release.is_packed_in(&built, "agencyABcosRpcService"));
        // The same tar stream, gzipped otherwise.
        let mut tar = Vec::new();
        MultiGzDecoder::new(built.as_slice())
            .read_to_end(&mut tar)
            .unwrap();
        let mut other = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
        other.write_all(&tar).unwrap();
        let other = other.finish().unwrap();
        assert_ne!(other, built);
        assert!(release.is_packed_in(&other, "agencyABcosRpcService"));
        // Another server's name, another binary, a cut or extended file: not it.
        assert!(!release.is_packed_in(&built, "agencyBBcosRpcService"));
        let changed = Release::read(
            &archive("BcosRpcService/BcosRpcService", &[8u8; 70_000], 0o755),
            ServiceKind::Rpc,
        )
        .unwrap();
        assert!(!changed.is_packed_in(&built, "agencyABcosRpcService"));
        assert!(!release.is_packed_in(&built[..built.len() / 2], "agencyABcosRpcService"));
        let mut longer = tar.clone();
        longer.extend_from_slice(&[0u8; 512]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&longer).unwrap();
        assert!(!release.is_packed_in(&gz.finish().unwrap(), "agencyABcosRpcService"));
        assert!(!release.is_packed_in(b"not a tgz", "agencyABcosRpcService"));
    }

    #[test]
    fn a_remembered_package_is_recalled_by_its_digest_only() {
        let package = std::sync::Arc::new(b"package bytes of this test".to_vec());
        let digest = sha256_hex(&package);
        keep_builds();
        remember(&digest, package.clone());
        assert_eq!(recall(&digest).as_deref(), Some(package.as_ref()));
        assert!(recall(&sha256_hex(b"another package")).is_none());
    }

    #[test]
    fn missing_binary_names_the_entry_and_the_archive() {
        let input = archive("BcosRpcService/BcosRpcService", b"x", 0o755);
        let err = build(&input, ServiceKind::Gateway, "agencyABcosGatewayService").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("BcosGatewayService/BcosGatewayService"), "{text}");
        assert!(text.contains("BcosGatewayService.tgz"), "{text}");
    }

    #[test]
    fn garbage_input_is_reported_as_unreadable() {
        let err = build(b"not a tgz", ServiceKind::Rpc, "aBcosRpcService").unwrap_err();
        assert!(matches!(err, PackageError::Unreadable { .. }), "{err}");
    }

    #[test]
    fn sha256_hex_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
