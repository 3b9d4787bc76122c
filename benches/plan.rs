//! Planner at scale: 100 agencies × (rpc + gateway) × 50 IPs = 10,000 nodes
//! (≈ 145,000 resources), planned against an empty state and against a state that
//! matches it, without refresh.
//!
//! `cargo bench --bench plan` runs criterion. `TARSFORM_BENCH_ONCE=1` runs each case
//! once and prints its time, for measuring peak RSS with `/usr/bin/time -v`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{Criterion, criterion_group};
use tarsform::addr::{Address, ResourceKind};
use tarsform::config::{Agency, ChainSettings, Service, ServiceKind, TarsSettings, Topology};
use tarsform::graph;
use tarsform::plan::{
    self, LocalCa, LocalCert, LocalFiles, LocalPackage, Plan, PlanInput, PlanOptions, sha256_hex,
};
use tarsform::secret::Secret;
use tarsform::state::State;

/// Counts live heap bytes and their peak, to report what planning itself allocates.
struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

const AGENCIES: usize = 100;
const IPS: usize = 50;

fn ips(agency: usize) -> Vec<std::net::IpAddr> {
    (0..IPS)
        .map(|i| {
            format!("10.{}.{}.{}", agency / 200, agency % 200, i + 1)
                .parse()
                .unwrap()
        })
        .collect()
}

fn topology() -> Topology {
    let agencies = (0..AGENCIES)
        .map(|a| {
            let service = |kind, port| Service {
                kind,
                deploy_ip: ips(a),
                listen_ip: "0.0.0.0".into(),
                listen_port: port,
                thread_count: 4,
                state: Default::default(),
                peers: vec!["10.0.0.1:30300".into()],
                peers_auto: false,
                prevent_destroy: None,
                nodes: Default::default(),
            };
            Agency {
                name: format!("agency{a}"),
                failover_cluster_url: "127.0.0.1:2379".into(),
                enable_storage_security: false,
                key_center_url: String::new(),
                cipher_data_key: String::new(),
                rpc: Some(service(ServiceKind::Rpc, 20200)),
                gateway: Some(service(ServiceKind::Gateway, 30300)),
            }
        })
        .collect();
    Topology {
        tars: TarsSettings {
            url: "http://127.0.0.1:3000/".into(),
            token: Secret::new("bench-token"),
            pkg_dir: PathBuf::from("binary"),
            packages: Default::default(),
        },
        chain: ChainSettings {
            chain_id: "chain0".into(),
            rpc_ca_cert_path: "generated/rpc/chain0/ca".into(),
            gateway_ca_cert_path: "generated/gateway/chain0/ca".into(),
            rpc_ca_cert_path_explicit: true,
            gateway_ca_cert_path_explicit: true,
            rpc_sm_ssl: false,
            gateway_sm_ssl: false,
        },
        agencies,
    }
}

/// A PEM of the size of a real RSA-2048 certificate (~1.2 kB).
fn pem(what: &str) -> String {
    let body = sha256_hex(what.as_bytes()).repeat(17);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// CAs and packages; with `certs`, every leaf and key already on disk too.
fn local(topology: &Topology, graph: &graph::ResourceGraph, certs: bool) -> LocalFiles {
    let mut local = LocalFiles::default();
    for kind in ServiceKind::ALL {
        local.cas.insert(
            kind,
            LocalCa {
                cert_pem: Some(pem(kind.as_str())),
                key_present: true,
            },
        );
    }
    for svc in topology.services() {
        let server = svc.server_name();
        local.packages.insert(
            server.clone(),
            LocalPackage::Built {
                sha256: sha256_hex(server.as_bytes()),
                size: 1 << 20,
                path: format!("generated/{server}.tgz"),
                source: format!("binary/{}.tgz", svc.kind().binary_name()),
            },
        );
    }
    if certs {
        for a in graph.addresses() {
            match (a.kind(), a.leaf_name()) {
                (ResourceKind::Cert, _) => {
                    local.certs.insert(
                        a.clone(),
                        LocalCert {
                            cert_pem: pem(&a.to_string()),
                            key_present: true,
                        },
                    );
                }
                (ResourceKind::Config, Some("ssl.key")) => {
                    local
                        .configs
                        .insert(a.clone(), sha256_hex(a.to_string().as_bytes()));
                }
                _ => {}
            }
        }
    }
    local
}

struct Case {
    topology: Topology,
    graph: graph::ResourceGraph,
    local: LocalFiles,
    state: Option<State>,
}

impl Case {
    fn plan(&self) -> Plan {
        plan::plan(&PlanInput {
            topology: &self.topology,
            graph: &self.graph,
            state: self.state.as_ref(),
            observed: None,
            local: &self.local,
            options: &PlanOptions::default(),
        })
        .expect("the generated topology plans")
    }
}

fn empty_state() -> Case {
    let topology = topology();
    let graph = graph::desired(&topology).unwrap();
    let local = local(&topology, &graph, false);
    Case {
        topology,
        graph,
        local,
        state: None,
    }
}

fn matching_state() -> Case {
    let topology = topology();
    let graph = graph::desired(&topology).unwrap();
    let local = local(&topology, &graph, true);
    let mut case = Case {
        topology,
        graph,
        local,
        state: None,
    };
    let first = case.plan();
    case.state = Some(plan::state_after(&first, None, |a: &Address, k: &str| {
        serde_json::json!(format!("{k} of {a}"))
    }));
    case
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan_10000_nodes");
    group.sample_size(10);
    let empty = empty_state();
    group.bench_function("empty_state", |b| b.iter(|| empty.plan()));
    let matching = matching_state();
    assert!(!matching.plan().has_changes());
    group.bench_function("matching_state", |b| b.iter(|| matching.plan()));
    group.bench_function("desired_graph", |b| {
        b.iter(|| graph::desired(&empty.topology).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);

/// `TARSFORM_BENCH_ONCE=1 plan-bench empty`, `… write-state FILE`, `… matching FILE`:
/// one plan per process, so peak RSS reflects a single `tarsform plan`.
fn once(args: &[String]) {
    let case = match args {
        [w] if w == "empty" => empty_state(),
        [w, path] if w == "write-state" => {
            let state = matching_state().state.expect("a matching state");
            std::fs::write(path, serde_json::to_vec(&state).unwrap()).unwrap();
            return;
        }
        [w, path] if w == "matching" => {
            let mut case = empty_state();
            case.local = local(&case.topology, &case.graph, true);
            case.state = Some(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap());
            case
        }
        _ => panic!("usage: empty | write-state FILE | matching FILE"),
    };
    let inputs = LIVE.load(Ordering::Relaxed);
    let start = Instant::now();
    let graph = graph::desired(&case.topology).unwrap();
    let graph_time = start.elapsed();
    drop(graph);
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    let start = Instant::now();
    let plan = case.plan();
    let plan_time = start.elapsed();
    println!(
        "{}: {} resources, graph built in {graph_time:?}, {} changes planned in {plan_time:?}; \
         heap: inputs {:.0} MiB, peak while planning {:.0} MiB, plan {:.0} MiB",
        args[0],
        case.graph.len(),
        plan.changes.len(),
        mib(inputs),
        mib(PEAK.load(Ordering::Relaxed)),
        mib(LIVE.load(Ordering::Relaxed) - inputs),
    );
}

fn main() {
    if std::env::var_os("TARSFORM_BENCH_ONCE").is_some() {
        let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
        once(&args);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
