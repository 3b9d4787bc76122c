//! Everything `tarsform render` writes for a topology: per service type the CA, per node
//! `config.ini`, `nodes.json` (gateway) and the leaf certificates, and the packages.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::certs::{ensure_ca_in, ensure_leaf};
use super::files::{read_if_exists, write_package, write_text_if_changed};
use super::{FileOutcome, Layout, WorkspaceError};
use crate::config::{ServiceKind, Topology};
use crate::pki::{Ca, KeySource};
use crate::render::{self, package};

/// Writes the configs and certificates of every service and deploy IP, in topology order.
pub fn generate(
    topology: &Topology,
    layout: &Layout,
    keys: &mut dyn KeySource,
) -> Result<Vec<FileOutcome>, WorkspaceError> {
    let mut report = Vec::new();
    let mut cas: BTreeMap<ServiceKind, Ca> = BTreeMap::new();
    for svc in topology.services() {
        let kind = svc.kind();
        let ca = match cas.entry(kind) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => {
                let mode = topology.chain.cert_mode(kind);
                let (ca, files) = ensure_ca_in(&layout.ca_dir_for(&topology.chain, kind), mode, keys)?;
                report.extend(files);
                slot.insert(ca)
            }
        };
        let server = svc.server_name();
        let nodes_json = (kind == ServiceKind::Gateway).then(|| render::nodes_json(svc));
        for &ip in &svc.service.deploy_ip {
            let one = svc.service.for_node(ip);
            let config_ini = render::config_ini(
                topology,
                crate::config::ServiceRef {
                    agency: svc.agency,
                    service: &one,
                },
            );
            let path = layout.config_path(kind, &server, ip, "config.ini");
            report.push(FileOutcome::new(
                &path,
                write_text_if_changed(&path, &config_ini)?,
            ));
            if let Some(json) = &nodes_json {
                let path = layout.config_path(kind, &server, ip, "nodes.json");
                report.push(FileOutcome::new(&path, write_text_if_changed(&path, json)?));
            }
            for purpose in topology.chain.cert_mode(kind).cert_purposes(kind) {
                report.extend(ensure_leaf(
                    ca,
                    &layout.cert_dir(kind, &server, ip, purpose),
                    purpose,
                    keys,
                )?);
            }
        }
    }
    Ok(report)
}

/// How many new keys [`generate`] will need (CAs and leaves whose files are absent), so
/// the caller can make them ahead of time in parallel.
pub fn keys_needed(topology: &Topology, layout: &Layout) -> usize {
    let mut count = 0;
    let mut kinds = BTreeSet::new();
    for svc in topology.services() {
        let kind = svc.kind();
        let ca_dir = layout.ca_dir_for(&topology.chain, kind);
        let mode = topology.chain.cert_mode(kind);
        if kinds.insert(kind) && !mode.is_sm() && !ca_dir.join("ca.key").exists() {
            count += 1;
        }
        for &ip in &svc.service.deploy_ip {
            // SM2 keys are made on demand (fast); only RSA keys are prefetched.
            for purpose in mode.cert_purposes(kind).iter().filter(|_| !mode.is_sm()) {
                let dir = layout.cert_dir(kind, &svc.server_name(), ip, purpose);
                if !dir.join(format!("{purpose}.key")).exists() {
                    count += 1;
                }
            }
        }
    }
    count
}

/// The package of one server: built, or skipped because its input archive is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageOutcome {
    Built { file: FileOutcome, sha256: String },
    MissingInput { server: String, input: PathBuf },
}

/// Builds `<root>/<server>.tgz` for every server from `tars_pkg_dir/Bcos{Rpc,Gateway}Service.tgz`.
pub fn packages(topology: &Topology, layout: &Layout) -> Result<Vec<PackageOutcome>, WorkspaceError> {
    let mut inputs: BTreeMap<ServiceKind, Option<Vec<u8>>> = BTreeMap::new();
    let mut report = Vec::new();
    for svc in topology.services() {
        let kind = svc.kind();
        let server = svc.server_name();
        // A release pinned by digest is read from the cache apply fills (if verified).
        let pin = crate::config::pin_for(&topology.tars.packages, &server, kind);
        let pinned;
        let (input, bytes) = match pin {
            Some(pin) => {
                let input = layout.package_cache_path(&pin.sha256);
                pinned = read_if_exists(&input)?.filter(|b| package::sha256_hex(b) == pin.sha256);
                (input, &pinned)
            }
            None => {
                let input = topology.tars.pkg_dir.join(package::input_archive_name(kind));
                let bytes = match inputs.entry(kind) {
                    Entry::Occupied(known) => known.into_mut(),
                    Entry::Vacant(slot) => slot.insert(read_if_exists(&input)?),
                };
                (input, &*bytes)
            }
        };
        let Some(bytes) = bytes else {
            report.push(PackageOutcome::MissingInput { server, input });
            continue;
        };
        let tgz = package::build(bytes, kind, &server).map_err(|source| WorkspaceError::Package {
            path: input.clone(),
            source,
        })?;
        let path = layout.package_path(&server);
        let outcome = write_package(&path, &tgz)?;
        report.push(PackageOutcome::Built {
            file: FileOutcome::new(path, outcome),
            sha256: package::sha256_hex(&tgz),
        });
    }
    Ok(report)
}
