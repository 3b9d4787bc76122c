//! The concrete [`Runner`]: performs each step against Tars and the local files,
//! journals it before and after, and saves the state after every completed step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

mod group_commit;
mod node_steps;
mod preflight_and_local;
mod state_saver;
mod storage_security;
mod storage_thread;
mod switch_rows;
mod undo_steps;

pub use storage_security::{StorageSecurity, storage_security_of};
pub use undo_steps::{OBSERVE_RECORD, RUN_RECORD};

use self::group_commit::GroupJournal;
use self::state_saver::StateSaver;
use self::storage_thread::StorageThread;
use super::engine::Runner;
use super::local_ops::{self, LocalError};
use super::steps::{Op, Step, expand_source};
use super::tars_ops::{self, OpError, Timing};
use super::undo::{Kept, Undo, UndoRecord};
use super::verify::{self, Difference, Expect, Observation};
use crate::addr::{Address, ResourceKind};
use crate::config::ServiceKind;
use crate::pki::KeySource;
use crate::plan::{Action, Plan, ResourceChange, pem_sha256, sha256_hex};
use crate::state::store::now_rfc3339;
use crate::state::{
    JournalEntry, JournalFile, ResourceState, ResourceStatus, Sidecar, State, StateStore, StepPhase,
};
use crate::tars::{TarsApi, TaskCommand};

/// The state, its store (holding the lock) and the journal, saved together.
pub struct Book {
    pub state: State,
    pub store: StateStore,
    pub journal: JournalFile,
}

/// The state in memory and a count of the changes made to it.
struct Ledger {
    state: State,
    generation: u64,
}

/// A node to restart once every config undo has run.
#[derive(Debug, Clone)]
struct PendingRestart {
    server: String,
    ip: String,
    previous_patch: Option<u64>,
    repatched: bool,
    was_stopped: bool,
}

pub struct TarsRunner<C: TarsApi> {
    api: Arc<C>,
    plan: Arc<Plan>,
    timing: Timing,
    /// The state and its store; apart from the journal so their writes overlap.
    ledger: tokio::sync::Mutex<Ledger>,
    /// The store (saves run on the storage thread).
    saver: StateSaver,
    /// The ledger generation the last save covered (group commit).
    saved_generation: tokio::sync::Mutex<u64>,
    journal: GroupJournal,
    keys: KeyFactory,
    pending_restarts: std::sync::Mutex<Vec<PendingRestart>>,
    /// Inverses of failed steps that may have changed Tars before failing.
    unsettled: std::sync::Mutex<Vec<(String, UndoRecord)>>,
    /// The write-ahead inverse of each step that recorded one.
    prepared: std::sync::Mutex<BTreeMap<String, Undo>>,
    /// Sensitive old contents the inverses need (0600, beside the journal).
    sidecar: Sidecar,
    /// Backups of replaced leaf files, removed when the run commits.
    commit_backups: std::sync::Mutex<Vec<PathBuf>>,
    /// Node directories of deleted nodes, removed when the run commits.
    commit_removals: std::sync::Mutex<Vec<PathBuf>>,
    /// Things the operator should know although the steps succeeded.
    notes: std::sync::Mutex<Vec<String>>,
    /// Server → the key center its key files are encrypted with (storage security).
    storage: BTreeMap<String, StorageSecurity>,
    /// Server → its server-level config rows, read once per run (a hint: a miss reads again).
    server_rows: std::sync::Mutex<BTreeMap<String, Vec<crate::tars::ConfigFile>>>,
    /// (server, file) → the last listing of that file's node rows (a hint for new nodes).
    node_listings: std::sync::Mutex<BTreeMap<(String, String), Vec<crate::tars::ConfigFile>>>,
    /// Set once this run made sure the application exists (one `add_application`).
    application_ready: tokio::sync::OnceCell<()>,
    /// Each address a step wrote, with its entry before the first such step (the check
    /// after a rollback).
    touched: std::sync::Mutex<Prior>,
}

#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Op(#[from] OpError),
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error("{0}")]
    Plan(String),
}

impl From<crate::tars::TarsError> for StepError {
    fn from(e: crate::tars::TarsError) -> Self {
        StepError::Op(OpError::Tars(e))
    }
}

type StepResult<T> = Result<T, StepError>;

/// State entries as they were before a step wrote its own (`None`: absent).
pub type Prior = crate::apply::state_check::Expected;

/// What a step did: its inverse and the state entries to write.
struct Outcome {
    undo: Undo,
    state: Vec<(Address, Option<ResourceState>)>,
}

fn plan_err(msg: impl Into<String>) -> StepError {
    StepError::Plan(msg.into())
}

impl<C: TarsApi> TarsRunner<C> {
    pub fn new(api: Arc<C>, plan: Arc<Plan>, timing: Timing, book: Book, keys: KeyFactory) -> Self {
        let sidecar = book.store.sidecar();
        let storage = Arc::new(StorageThread::start());
        TarsRunner {
            touched: std::sync::Mutex::new(Prior::new()),
            sidecar,
            prepared: std::sync::Mutex::new(BTreeMap::new()),
            commit_backups: std::sync::Mutex::new(Vec::new()),
            api,
            plan,
            timing,
            ledger: tokio::sync::Mutex::new(Ledger {
                state: book.state,
                generation: 0,
            }),
            saver: StateSaver::new(book.store, storage.clone()),
            saved_generation: tokio::sync::Mutex::new(0),
            journal: GroupJournal::new(book.journal, storage),
            keys,
            pending_restarts: std::sync::Mutex::new(Vec::new()),
            unsettled: std::sync::Mutex::new(Vec::new()),
            commit_removals: std::sync::Mutex::new(Vec::new()),
            notes: std::sync::Mutex::new(Vec::new()),
            storage: BTreeMap::new(),
            server_rows: std::sync::Mutex::new(BTreeMap::new()),
            node_listings: std::sync::Mutex::new(BTreeMap::new()),
            application_ready: tokio::sync::OnceCell::new(),
        }
    }

    /// The notes steps left (e.g. a FAILED task whose node runs anyway), oldest first.
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().expect("notes lock"))
    }

    fn note(&self, note: Option<String>) {
        if let Some(note) = note {
            self.notes.lock().expect("notes lock").push(note);
        }
    }

    /// Failed steps that may have changed Tars before failing (their inverses run with a
    /// rollback).
    pub fn unsettled_steps(&self) -> Vec<String> {
        let unsettled = self.unsettled.lock().expect("unsettled lock");
        unsettled.iter().map(|(step, _)| step.clone()).collect()
    }

    /// Each address a step wrote, as it was before the run.
    pub fn state_before(&self) -> Prior {
        self.touched.lock().expect("touched lock").clone()
    }

    /// The book, once the engine is done with the runner.
    pub fn into_book(self) -> Book {
        let mut state = self.ledger.into_inner().state;
        let (store, saved_serial) = self.saver.into_store();
        if let Some(serial) = saved_serial {
            state.serial = serial;
        }
        Book {
            state,
            store,
            journal: self.journal.into_file(),
        }
    }

    pub fn app(&self) -> &str {
        &self.plan.application
    }

    fn change(&self, address: &Address) -> StepResult<&ResourceChange> {
        self.plan
            .change(address)
            .ok_or_else(|| plan_err(format!("{address}: not in the plan")))
    }

    fn after_str<'a>(change: &'a ResourceChange, key: &str) -> StepResult<&'a str> {
        change
            .after
            .as_ref()
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .ok_or_else(|| plan_err(format!("{}: the plan has no `{key}`", change.address)))
    }

    /// Refuses when a local file no longer has the digest the plan recorded for `key`.
    fn check_planned_digest(change: &ResourceChange, key: &str, actual: &str, path: &Path) -> StepResult<()> {
        let planned = change
            .after
            .as_ref()
            .and_then(|a| a.get(key))
            .and_then(Value::as_str);
        match planned {
            Some(expected) if expected != actual => Err(plan_err(format!(
                "{}: {} changed since the plan was made\nhint: run `tarsform plan` again",
                change.address,
                path.display()
            ))),
            _ => Ok(()),
        }
    }

    /// The state entry a change leads to, with values found at apply filled in.
    fn entry(change: &ResourceChange, filled: &[(&str, Value)], status: ResourceStatus) -> ResourceState {
        let mut attributes = change.after.clone().unwrap_or_default();
        // State keeps digests, ids and paths, not file contents (DESIGN.md §5).
        attributes.remove("content");
        for key in crate::plan::TRANSIENT_ATTRS {
            attributes.remove(key);
        }
        attributes.remove("register");
        for (k, v) in filled {
            attributes.insert((*k).to_string(), v.clone());
        }
        ResourceState {
            kind: change.address.kind(),
            attributes,
            dependencies: change.depends_on.clone(),
            status,
        }
    }

    /// The local path of a node file, from the workspace layout; refuses a plan that
    /// names another path (`key` is the attribute holding it, e.g. `local_path`).
    fn layout_path(&self, change: &ResourceChange, key: &str, file: &str) -> StepResult<PathBuf> {
        let a = &change.address;
        let (server, ip) = (&a.keys()[0], &a.keys()[1]);
        let layout = crate::workspace::Layout::new(&self.plan.generated_root, &self.plan.application);
        let kind = ServiceKind::of_server(server)
            .ok_or_else(|| plan_err(format!("{a}: not an rpc or gateway server name")))?;
        let ip: std::net::IpAddr = ip
            .parse()
            .map_err(|_| plan_err(format!("{a}: `{ip}` is not an IP address")))?;
        let derived = match a.kind() {
            ResourceKind::Cert => layout
                .cert_dir(kind, server, ip, file)
                .join(file_name_for(key, file)),
            _ => layout.config_path(kind, server, ip, file),
        };
        if let Some(named) = change.attr_str(key)
            && Path::new(named) != derived
        {
            return Err(plan_err(format!(
                "{a}: `{key}` names {named}, not {} (the workspace layout); refusing to write there\nhint: the plan or state was edited; run `tarsform plan` again",
                derived.display()
            )));
        }
        crate::workspace::inside(Path::new(&self.plan.generated_root), &derived)
            .map_err(|e| plan_err(e.to_string()))?;
        Ok(derived)
    }

    async fn state_attr(&self, address: &Address, key: &str) -> Option<Value> {
        let ledger = self.ledger.lock().await;
        ledger
            .state
            .get(address)
            .and_then(|r| r.attributes.get(key))
            .cloned()
    }

    /// The patch a restart or start of `change`'s node runs: the server's package when
    /// the plan changes the package (`repatch`), else the one the node runs (recorded,
    /// or `running` as Tars shows it), so adopted nodes keep the package they run.
    async fn node_patch(&self, change: &ResourceChange, running: Option<u64>) -> StepResult<u64> {
        let server = change.address.server_name().unwrap_or_default();
        let recorded = change
            .before
            .as_ref()
            .and_then(|b| b.get("patch_id"))
            .and_then(Value::as_u64);
        match recorded.or(running) {
            Some(own) if change.attr("repatch").is_none() => Ok(own),
            _ => self.patch_id_of(server).await,
        }
    }

    async fn patch_id_of(&self, server: &str) -> StepResult<u64> {
        self.state_attr(&Address::server(server), "patch_id")
            .await
            .and_then(|v| v.as_u64())
            .ok_or_else(|| {
                plan_err(format!(
                    "server `{server}`: no uploaded package is recorded in state (patch_id)"
                ))
            })
    }

    async fn journal(&self, step: &str, phase: StepPhase, detail: Value) -> StepResult<()> {
        self.journal
            .append(JournalEntry::new(step, phase, detail, now_rfc3339()))
            .await
            .map_err(|e| plan_err(format!("journal: {e}")))
    }

    /// Like [`Self::journal`], also after a failed append (rollback progress).
    async fn journal_anyway(&self, step: &str, phase: StepPhase, detail: Value) -> StepResult<()> {
        self.journal
            .append_anyway(JournalEntry::new(step, phase, detail, now_rfc3339()))
            .await
            .map_err(|e| plan_err(format!("journal: {e}")))
    }

    /// Write-ahead: records `undo` as the step's inverse before its next change. A run
    /// that cannot record it stops here, before the Tars call.
    async fn prepare(&self, step: &str, undo: &Undo) -> StepResult<()> {
        self.journal(step, StepPhase::Prepared, json!({ "undo": undo }))
            .await?;
        self.prepared
            .lock()
            .expect("prepared lock")
            .insert(step.to_string(), undo.clone());
        Ok(())
    }

    /// Keeps an old config content for an inverse: inline when public, otherwise in
    /// the 0600 sidecar under `key`.
    fn keep(&self, key: &str, file: &str, content: &str) -> StepResult<Kept> {
        let secret = crate::apply::refresh::drift::is_sensitive_file(file)
            || crate::state::model::find_secret("content", &json!(content)).is_some();
        if !secret {
            return Ok(Kept::Inline(content.to_string()));
        }
        self.sidecar
            .put(key, content)
            .map_err(|e| plan_err(format!("journal sidecar: {e}")))?;
        Ok(Kept::Sidecar(key.to_string()))
    }

    /// The content a [`Kept`] names.
    fn kept(&self, kept: &Kept) -> StepResult<String> {
        match kept {
            Kept::Inline(text) => Ok(text.clone()),
            Kept::Sidecar(key) => self
                .sidecar
                .get(key)
                .map_err(|e| plan_err(format!("journal sidecar: {e}")))?
                .ok_or_else(|| {
                    plan_err(format!(
                        "the old content `{key}` is missing from {}",
                        self.sidecar.path().display()
                    ))
                }),
        }
    }

    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }

    /// Writes the outcome's entries into the state and saves it; returns the entries they
    /// replaced, also when the save failed (the rollback puts them back).
    async fn record(&self, outcome: &Outcome) -> Result<Prior, (StepError, Prior)> {
        let mut prior = BTreeMap::new();
        let generation = {
            let mut ledger = self.ledger.lock().await;
            for (address, entry) in &outcome.state {
                let old = match entry {
                    Some(e) => ledger.state.insert(address.clone(), e.clone()),
                    None => ledger.state.remove(address),
                };
                prior.entry(address.clone()).or_insert(old);
            }
            let mut touched = self.touched.lock().expect("touched lock");
            for (address, old) in &prior {
                touched.entry(address.clone()).or_insert_with(|| old.clone());
            }
            ledger.generation += 1;
            ledger.generation
        };
        match self.save_through(generation).await {
            Ok(()) => Ok(prior),
            Err(e) => Err((e, prior)),
        }
    }

    async fn restore_state(&self, prior: &BTreeMap<Address, Option<ResourceState>>) -> StepResult<()> {
        let generation = {
            let mut ledger = self.ledger.lock().await;
            for (address, entry) in prior {
                match entry {
                    Some(e) => ledger.state.insert(address.clone(), e.clone()),
                    None => ledger.state.remove(address),
                };
            }
            ledger.generation += 1;
            ledger.generation
        };
        self.save_through(generation).await
    }

    /// Returns once the state file holds every change up to `generation`. Steps that
    /// finish while a save runs share the next one (group commit), so a crash still loses
    /// at most the steps in flight.
    async fn save_through(&self, generation: u64) -> StepResult<()> {
        let mut saved_generation = self.saved_generation.lock().await;
        if *saved_generation >= generation {
            return Ok(());
        }
        let (snapshot, covered) = {
            let ledger = self.ledger.lock().await;
            (ledger.state.clone(), ledger.generation)
        };
        let serial = self
            .saver
            .save(snapshot)
            .await
            .map_err(|e| plan_err(format!("saving state: {e}")))?;
        *saved_generation = covered;
        self.ledger.lock().await.state.serial = serial;
        Ok(())
    }

    async fn perform(&self, step: &Step) -> StepResult<Outcome> {
        let nothing = |state| Outcome {
            undo: Undo::Nothing,
            state,
        };
        let Some(address) = &step.address else {
            if step.op == Op::Preflight {
                self.preflight().await?;
            }
            return Ok(nothing(vec![]));
        };
        let change = self.change(address)?;
        let app = self.app().to_string();
        match step.op {
            Op::Preflight | Op::Barrier => Ok(nothing(vec![])),
            Op::CreateCa => {
                let dir = PathBuf::from(Self::after_str(change, "dir")?);
                let sm = Self::after_str(change, "cert_file").is_ok_and(|f| f == "sm_ca.crt");
                let undo = Undo::RemoveFiles {
                    paths: local_ops::ca_files(&dir, sm)
                        .into_iter()
                        .filter(|p| !p.exists())
                        .collect(),
                    replaced: vec![],
                };
                self.prepare(&step.id, &undo).await?;
                let mut keys = (self.keys)();
                let (pem, created) = blocking(move || local_ops::create_ca(&dir, sm, keys.as_mut())).await?;
                let entry = Self::entry(
                    change,
                    &[("cert_sha256", json!(pem_sha256(&pem))), ("cert_pem", json!(pem))],
                    ResourceStatus::Ready,
                );
                Ok(Outcome {
                    undo: Undo::RemoveFiles {
                        paths: created,
                        replaced: vec![],
                    },
                    state: vec![(address.clone(), Some(entry))],
                })
            }
            Op::Adopt => {
                let path = match address.kind() {
                    ResourceKind::Ca => PathBuf::from(Self::after_str(change, "dir")?)
                        .join(Self::after_str(change, "cert_file").unwrap_or("ca.crt")),
                    _ => PathBuf::from(Self::after_str(change, "cert_path")?),
                };
                let digest = pem_sha256(&local_ops::read_text(&path)?);
                Self::check_planned_digest(change, "cert_sha256", &digest, &path)?;
                Ok(nothing(vec![(
                    address.clone(),
                    Some(Self::entry(
                        change,
                        &[("cert_sha256", json!(digest))],
                        ResourceStatus::Ready,
                    )),
                )]))
            }
            Op::IssueCert => self.issue_cert(&step.id, change).await,
            Op::UploadPackage => self.upload(change, &app).await,
            Op::RegisterNode => self.register(change, &app).await,
            Op::ImportServer => {
                let server = address.server_name().unwrap_or_default();
                let planned = change.attr("patch_id").and_then(Value::as_u64);
                let running = tars_ops::running_patches(&*self.api, &app, server).await?;
                if running.is_empty()
                    || running.iter().any(Option::is_none)
                    || running.iter().max() != Some(&planned)
                {
                    return Err(plan_err(format!(
                        "server `{server}`: its nodes no longer run patch {} as newest; run `tarsform plan` again",
                        planned.map_or("?".to_string(), |p| p.to_string())
                    )));
                }
                Ok(nothing(vec![(
                    address.clone(),
                    Some(Self::entry(change, &[], ResourceStatus::Ready)),
                )]))
            }
            Op::ImportNode => {
                let (server, ip) = node_keys(address);
                let row = tars_ops::find_node(&*self.api, &app, server, ip)
                    .await?
                    .ok_or_else(|| {
                        plan_err(format!(
                            "server `{server}`: node {ip} is no longer in Tars; run `tarsform plan` again"
                        ))
                    })?;
                let mut filled = vec![("server_id", json!(row.id))];
                if let Some(p) = row.patch_id() {
                    filled.push(("patch_id", json!(p)));
                }
                if change.after_unknown.contains("adapter_port") {
                    filled.push(("adapter_port", Value::Null));
                }
                Ok(nothing(vec![(
                    address.clone(),
                    Some(Self::entry(change, &filled, ResourceStatus::Ready)),
                )]))
            }
            Op::PushConfig => self.push_config(change, &app).await,
            Op::StartNode => {
                let (server, ip) = node_keys(address);
                // A registered node gets the server's package; a stopped one keeps its own.
                let patch = if change.action == Action::Update {
                    self.node_patch(change, None).await?
                } else {
                    self.patch_id_of(server).await?
                };
                let undo = Undo::StopNode {
                    server: server.into(),
                    ip: ip.into(),
                };
                self.prepare(&step.id, &undo).await?;
                let fixed_endpoint = self.fix_adapter(change).await?;
                let started =
                    tars_ops::patch_and_check(&*self.api, self.timing, &app, server, ip, patch).await?;
                self.note(started.note);
                let row = started.row;
                let mut entry = self.current_entry(address).await.unwrap_or_else(|| {
                    Self::entry(change, &[("server_id", json!(row.id))], ResourceStatus::Ready)
                });
                entry.status = ResourceStatus::Ready;
                entry.attributes.insert("patch_id".into(), json!(patch));
                if let Some(run) = change.attr("run_state") {
                    entry.attributes.insert("run_state".into(), run.clone());
                }
                if let Some(endpoint) = fixed_endpoint {
                    entry
                        .attributes
                        .insert("adapter_endpoint".into(), json!(endpoint));
                }
                Ok(Outcome {
                    undo,
                    state: vec![(address.clone(), Some(entry))],
                })
            }
            Op::StopNode => self.stop(change, &app).await,
            Op::RestartNode => self.restart(change, &app).await,
            Op::UndeployForReplace => self.undeploy(change, &app, true).await,
            Op::UndeployNode => self.undeploy(change, &app, false).await,
            Op::Forget => Ok(nothing(vec![(address.clone(), None)])),
            Op::DeleteConfig => self.delete_config(&step.id, change, &app).await,
        }
    }

    async fn current_entry(&self, address: &Address) -> Option<ResourceState> {
        self.ledger.lock().await.state.get(address).cloned()
    }
}

/// Makes a key source per certificate step, so keys are generated in parallel.
pub type KeyFactory = Box<dyn Fn() -> Box<dyn KeySource + Send> + Send + Sync>;

/// The key factory of real runs: fresh RSA-2048 keys from the system.
pub fn system_keys() -> KeyFactory {
    Box::new(|| Box::new(crate::pki::SystemKeys::new()))
}

/// Runs CPU-heavy local work (key generation, package builds) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, LocalError> + Send + 'static,
) -> StepResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| plan_err(format!("local work stopped: {e}")))?
        .map_err(StepError::from)
}

/// `ssl.crt` / `ssl.key` for a leaf of `purpose`.
fn file_name_for(key: &str, purpose: &str) -> String {
    match key {
        "key_path" => format!("{purpose}.key"),
        _ => format!("{purpose}.crt"),
    }
}

fn node_keys(address: &Address) -> (&str, &str) {
    (&address.keys()[0], &address.keys()[1])
}

/// Error texts never carry a `ticket=` value (the client redacts; this is a backstop).
fn redact(text: &str) -> String {
    match text.find("ticket=") {
        None => text.to_string(),
        Some(_) => text
            .split('&')
            .map(|part| match part.find("ticket=") {
                Some(i) => format!("{}ticket=(sensitive)", &part[..i]),
                None => part.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&"),
    }
}

impl<C: TarsApi> Runner for TarsRunner<C> {
    type Step = Step;
    type Undo = UndoRecord;

    async fn run(&self, step: &Step) -> Result<UndoRecord, String> {
        let prior: BTreeMap<Address, Option<ResourceState>> = match &step.address {
            Some(a) => BTreeMap::from([(a.clone(), self.current_entry(a).await)]),
            None => BTreeMap::new(),
        };
        let started = json!({ "op": step.op, "address": step.address, "prior_state": prior });
        self.journal(&step.id, StepPhase::Started, started)
            .await
            .map_err(|e| e.to_string())?;
        let performed = match self.perform(step).await {
            Ok(outcome) => match self.record(&outcome).await {
                Ok(prior) => Ok((outcome, prior)),
                // The entries stay in memory: the next save writes them unless put back.
                Err((e, prior)) => Err((e, prior)),
            },
            Err(e) => Err((e, BTreeMap::new())),
        };
        let completed = match performed {
            Ok((outcome, prior)) => {
                let record = UndoRecord {
                    undo: outcome.undo,
                    prior_state: prior,
                };
                let detail = serde_json::to_value(&record).unwrap_or(Value::Null);
                match self.journal(&step.id, StepPhase::Completed, detail).await {
                    Ok(()) => Ok(record),
                    Err(e) => Err((e, record.prior_state)),
                }
            }
            Err(failed) => Err(failed),
        };
        match completed {
            Ok(record) => {
                self.prepared.lock().expect("prepared lock").remove(&step.id);
                Ok(record)
            }
            Err((e, prior_state)) => {
                let message = redact(&e.to_string());
                let _ = self
                    .journal(&step.id, StepPhase::Failed, json!({ "error": message }))
                    .await;
                // The step may have changed Tars before failing: its write-ahead
                // inverse runs with the rollback.
                // A restart that failed changed no content; restarting again would not
                // bring anything back (a node it started from stopped is stopped again).
                let prepared = self
                    .prepared
                    .lock()
                    .expect("prepared lock")
                    .remove(&step.id)
                    .filter(|u| {
                        !matches!(
                            u,
                            Undo::RestartNode {
                                repatched: false,
                                was_stopped: false,
                                ..
                            }
                        )
                    });
                if prepared.is_some() || !prior_state.is_empty() {
                    self.unsettled.lock().expect("unsettled lock").push((
                        step.id.clone(),
                        UndoRecord {
                            undo: prepared.unwrap_or(Undo::Nothing),
                            prior_state,
                        },
                    ));
                }
                Err(message)
            }
        }
    }

    async fn undo(&self, step: &Step, record: &UndoRecord) -> Result<(), String> {
        self.undo_recorded(&step.id, record).await
    }
}

impl<C: TarsApi> TarsRunner<C> {
    /// Runs one inverse, puts back the state it replaced, and journals the outcome.
    async fn undo_recorded(&self, step: &str, record: &UndoRecord) -> Result<(), String> {
        let result = match self.run_undo(&record.undo).await {
            Ok(()) => self.restore_prior(&record.prior_state).await,
            Err(e) => Err(format!("{e}\n  by hand: {}", record.undo.manual_hint())),
        };
        let phase = if result.is_ok() {
            StepPhase::Undone
        } else {
            StepPhase::UndoFailed
        };
        self.journal_phase(step, phase, json!({ "error": result.as_ref().err() }))
            .await;
        result
    }
}
