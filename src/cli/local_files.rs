//! Reading what the planner compares from the workspace: the CAs, leaf certificates,
//! digests of the node files (for keys, of the key file) and the packages. Private keys
//! are never read into memory beyond hashing them. Keys fetched from the backend's
//! custody count as present.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::addr::{Address, ResourceKind};
use crate::apply::fetched_keys;
use crate::config::{ServiceKind, Topology};
use crate::graph::{self, ResourceGraph};
use crate::plan::paths::Paths;
use crate::plan::{LocalCa, LocalCert, LocalFiles, LocalPackage, sha256_hex};
use crate::render;
use crate::render::package::Release;

/// Reads what the planner compares, for every resource of the graph; the packages are
/// added by [`gather_packages`] once the state is read.
pub fn gather_local(topology: &Topology, graph: &ResourceGraph, root: &str) -> LocalFiles {
    let paths = Paths::new(topology, root);
    let files = node_files(graph, &paths);
    // Files are read into a reused buffer (one per thread); only certificates are kept.
    let certs = in_parallel(&files, FILES_PER_THREAD, |files, buffer| {
        read_certs(files, &paths, buffer)
    });
    let cert_texts: HashMap<&str, &str> = certs
        .iter()
        .map(|(_, path, cert)| (path.as_str(), cert.cert_pem.as_str()))
        .collect();
    let configs = in_parallel(&files, FILES_PER_THREAD, |files, buffer| {
        digest_configs(files, &cert_texts, &paths, buffer)
    });
    LocalFiles {
        cas: read_cas(topology, graph, &paths, &mut Vec::new()),
        // In address order: each map is built in one pass.
        certs: certs
            .into_iter()
            .map(|(address, _, cert)| (address, cert))
            .collect(),
        configs: configs.into_iter().collect(),
        // Filled by `gather_packages` once the state is read.
        packages: BTreeMap::new(),
    }
}

/// The CA of each service type in use, when its directory holds anything.
fn read_cas(
    topology: &Topology,
    graph: &ResourceGraph,
    paths: &Paths,
    buffer: &mut Vec<u8>,
) -> BTreeMap<ServiceKind, LocalCa> {
    let mut cas = BTreeMap::new();
    for kind in ServiceKind::ALL {
        if !graph.contains(&Address::ca(kind)) {
            continue;
        }
        let dir = PathBuf::from(paths.ca_dir(topology, kind));
        let mode = topology.chain.cert_mode(kind);
        let cert_pem = read_text(&dir.join(mode.ca_cert_file()), buffer);
        let key_present = is_file(&dir.join(mode.ca_key_file()));
        if cert_pem.is_some() || key_present {
            cas.insert(
                kind,
                LocalCa {
                    cert_pem,
                    key_present,
                },
            );
        }
    }
    cas
}

/// A resource of one node whose files may be on disk.
struct NodeFile<'g> {
    address: &'g Address,
    server: &'g str,
    ip: IpAddr,
    kind: ServiceKind,
}

/// The certs and configs of the graph (in address order: certs first) whose server has
/// a directory here or among the fetched keys; one look per server, not one per file.
fn node_files<'g>(graph: &'g ResourceGraph, paths: &Paths) -> Vec<NodeFile<'g>> {
    let mut server_dirs: HashMap<&str, bool> = HashMap::new();
    let mut files = Vec::new();
    for address in graph.addresses() {
        if !matches!(address.kind(), ResourceKind::Cert | ResourceKind::Config) {
            continue;
        }
        let (Some(server), Some(ip)) = (address.server_name(), address.ip()) else {
            continue;
        };
        let (Some(kind), Ok(ip)) = (graph::kind_of_server(server), ip.parse::<IpAddr>()) else {
            continue;
        };
        let has_dir = *server_dirs.entry(server).or_insert_with(|| {
            let node_dir = PathBuf::from(paths.node_dir(kind, server, ip));
            node_dir.parent().is_some_and(|dir| fetched(dir).is_dir())
        });
        if has_dir {
            files.push(NodeFile {
                address,
                server,
                ip,
                kind,
            });
        }
    }
    files
}

/// The leaf certificates on disk, with their paths, in address order.
fn read_certs(
    files: &[NodeFile<'_>],
    paths: &Paths,
    buffer: &mut Vec<u8>,
) -> Vec<(Address, String, LocalCert)> {
    let mut certs = Vec::new();
    for f in files {
        let (ResourceKind::Cert, Some(purpose)) = (f.address.kind(), f.address.leaf_name()) else {
            continue;
        };
        let (cert, key) = paths.cert_paths(f.kind, f.server, f.ip, purpose);
        if let Some(cert_pem) = read_text(Path::new(&cert), buffer) {
            let key_present = is_file(Path::new(&key));
            let local = LocalCert {
                cert_pem,
                key_present,
            };
            certs.push((f.address.clone(), cert, local));
        }
    }
    certs
}

/// The sha256 of each node file on disk; a leaf certificate pushed as a node file was
/// read as the certificate already (`cert_texts`, by path).
fn digest_configs(
    files: &[NodeFile<'_>],
    cert_texts: &HashMap<&str, &str>,
    paths: &Paths,
    buffer: &mut Vec<u8>,
) -> Vec<(Address, String)> {
    let mut digests = Vec::new();
    for f in files {
        let (ResourceKind::Config, Some(file)) = (f.address.kind(), f.address.leaf_name()) else {
            continue;
        };
        let path = paths.config_path(f.kind, f.server, f.ip, file);
        let digest = match cert_texts.get(path.as_str()) {
            Some(pem) => Some(sha256_hex(pem.as_bytes())),
            None => read_into(Path::new(&path), buffer)
                .ok()
                .map(|()| sha256_hex(buffer)),
        };
        if let Some(digest) = digest {
            digests.push((f.address.clone(), digest));
        }
    }
    digests
}

/// Fewest node files worth a thread of their own: tens of thousands of small reads are
/// mostly waiting on system calls.
const FILES_PER_THREAD: usize = 2_000;

/// `work` on consecutive slices of `items` (at least `per_thread` each) on the available
/// cores, each with its own read buffer; the results in order.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    per_thread: usize,
    work: impl Fn(&[T], &mut Vec<u8>) -> Vec<R> + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(items.len() / per_thread.max(1))
        .max(1);
    let work = &work;
    let run = move |slice| work(slice, &mut Vec::with_capacity(16 << 10));
    if threads == 1 {
        return run(items);
    }
    std::thread::scope(|scope| {
        let slices = items.chunks(items.len().div_ceil(threads));
        let handles: Vec<_> = slices.map(|slice| scope.spawn(move || run(slice))).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// The built (or pinned) package of every server into `local`. Each input archive is read
/// once. A package already in the workspace is used as it is when its digest is the one
/// `recorded` for its server (the state's) and it holds exactly what a build would; the
/// others are built on the available cores and kept for this run's upload.
pub fn gather_packages<'s>(
    topology: &Topology,
    root: &str,
    local: &mut LocalFiles,
    recorded: impl Fn(&str) -> Option<&'s str> + Sync,
) {
    let paths = Paths::new(topology, root);
    let paths = &paths;
    let mut jobs = Vec::new();
    for svc in topology.services() {
        let server = svc.server_name();
        if let Some(pin) = crate::config::pin_for(&topology.tars.packages, &server, svc.kind()) {
            let package = LocalPackage::Pinned {
                version: pin.version.clone(),
                archive_sha256: pin.sha256.clone(),
                from: pin.source.shown(),
                cache: paths.package_cache_path(&pin.sha256),
                path: paths.package_path(&server),
            };
            local.packages.insert(server, package);
            continue;
        }
        jobs.push((server, svc.kind()));
    }
    let mut releases: BTreeMap<ServiceKind, (String, Result<Release, String>)> = BTreeMap::new();
    for &(_, kind) in &jobs {
        releases.entry(kind).or_insert_with(|| {
            let source = paths.package_source(kind);
            let release = std::fs::read(&source)
                .map_err(|e| format!("cannot read `{source}`: {e}"))
                .and_then(|bytes| Release::read(&bytes, kind).map_err(|e| format!("`{source}`: {e}")));
            (source, release)
        });
    }
    let package = |(server, kind): &(String, ServiceKind)| -> Result<(String, u64), String> {
        let (_, release) = &releases[kind];
        let release = release.as_ref().map_err(String::clone)?;
        if let Some(recorded) = recorded(server)
            && let Ok(existing) = std::fs::read(paths.package_path(server))
            && sha256_hex(&existing) == recorded
            && release.is_packed_in(&existing, server)
        {
            return Ok((recorded.to_string(), existing.len() as u64));
        }
        let built = release.build(server).map_err(|e| e.to_string())?;
        let (sha256, size) = (sha256_hex(&built), built.len() as u64);
        render::package::remember(&sha256, std::sync::Arc::new(built));
        Ok((sha256, size))
    };
    // One server a thread: gzip of a release binary is the slow part of a plan.
    let digests = in_parallel(&jobs, 1, |jobs, _| jobs.iter().map(package).collect());
    for ((server, kind), digest) in jobs.into_iter().zip(digests) {
        let source = releases[&kind].0.clone();
        let package = match digest {
            Ok((sha256, size)) => LocalPackage::Built {
                sha256,
                size,
                path: paths.package_path(&server),
                source,
            },
            Err(reason) => LocalPackage::Missing { reason, source },
        };
        local.packages.insert(server, package);
    }
}

/// A workspace file, or its copy among the keys fetched from the backend for this run.
fn fetched(path: &Path) -> PathBuf {
    fetched_keys::resolve(path)
}

/// The text of a workspace file (or of its fetched copy), read through `buffer`.
fn read_text(path: &Path, buffer: &mut Vec<u8>) -> Option<String> {
    read_into(path, buffer).ok()?;
    std::str::from_utf8(buffer).ok().map(str::to_string)
}

/// Reads a workspace file (or its fetched copy) into `buffer`, replacing its content.
fn read_into(path: &Path, buffer: &mut Vec<u8>) -> io::Result<()> {
    fetched_keys::read_resolved(path, |p| read_small(p, buffer))
}

/// Whether a workspace file (or its fetched copy) is there.
fn is_file(path: &Path) -> bool {
    fetched_keys::is_file_resolved(path)
}

/// Reads a file of a few kB into `buffer`: open, read to the end, close.
fn read_small(path: &Path, buffer: &mut Vec<u8>) -> io::Result<()> {
    buffer.clear();
    // Through `Take`: `File::read_to_end` first asks for the size and position, two
    // system calls more for each of tens of thousands of files.
    let file = std::fs::File::open(path)?;
    file.take(u64::MAX).read_to_end(buffer).map(drop)
}
