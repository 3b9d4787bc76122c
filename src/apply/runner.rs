//! The concrete [`Runner`]: performs each step against Tars and the local files,
//! journals it before and after, and saves the state after every completed step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use super::engine::Runner;
use super::local_ops::{self, LocalError};
use super::steps::{Op, Step, expand_source};
use super::tars_ops::{self, OpError, Timing};
use super::undo::{Undo, UndoRecord};
use crate::addr::{Address, ResourceKind};
use crate::config::ServiceKind;
use crate::pki::KeySource;
use crate::plan::{Action, Plan, ResourceChange, pem_sha256, sha256_hex};
use crate::state::store::now_rfc3339;
use crate::state::{JournalEntry, JournalFile, ResourceState, ResourceStatus, State, StateStore, StepPhase};
use crate::tars::{TarsApi, TaskCommand};

/// The state, its store (holding the lock) and the journal, saved together.
pub struct Book {
    pub state: State,
    pub store: StateStore,
    pub journal: JournalFile,
}

/// A node to restart once every config undo has run.
#[derive(Debug, Clone)]
struct PendingRestart {
    server: String,
    ip: String,
    previous_patch: Option<u64>,
    repatched: bool,
}

pub struct TarsRunner<C: TarsApi> {
    api: Arc<C>,
    plan: Arc<Plan>,
    timing: Timing,
    book: tokio::sync::Mutex<Book>,
    keys: KeyFactory,
    pending_restarts: std::sync::Mutex<Vec<PendingRestart>>,
    /// Inverses of failed steps that may have changed Tars before failing: `(step, undo)`.
    unsettled: std::sync::Mutex<Vec<(String, Undo)>>,
    /// Node directories of deleted nodes, removed when the run commits.
    commit_removals: std::sync::Mutex<Vec<PathBuf>>,
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
        TarsRunner {
            api,
            plan,
            timing,
            book: tokio::sync::Mutex::new(book),
            keys,
            pending_restarts: std::sync::Mutex::new(Vec::new()),
            unsettled: std::sync::Mutex::new(Vec::new()),
            commit_removals: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The book, once the engine is done with the runner.
    pub fn into_book(self) -> Book {
        self.book.into_inner()
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
        attributes.remove("restart_reason");
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

    async fn state_attr(&self, address: &Address, key: &str) -> Option<Value> {
        let book = self.book.lock().await;
        book.state
            .get(address)
            .and_then(|r| r.attributes.get(key))
            .cloned()
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
        let mut book = self.book.lock().await;
        book.journal
            .append(JournalEntry::new(step, phase, detail, now_rfc3339()))
            .map_err(|e| plan_err(format!("journal: {e}")))
    }

    async fn record(&self, outcome: &Outcome) -> StepResult<BTreeMap<Address, Option<ResourceState>>> {
        let mut book = self.book.lock().await;
        let mut prior = BTreeMap::new();
        for (address, entry) in &outcome.state {
            let old = match entry {
                Some(e) => book.state.insert(address.clone(), e.clone()),
                None => book.state.remove(address),
            };
            prior.entry(address.clone()).or_insert(old);
        }
        let Book { state, store, .. } = &mut *book;
        store
            .save(state)
            .map_err(|e| plan_err(format!("saving state: {e}")))?;
        Ok(prior)
    }

    async fn restore_state(&self, prior: &BTreeMap<Address, Option<ResourceState>>) -> StepResult<()> {
        let mut book = self.book.lock().await;
        for (address, entry) in prior {
            match entry {
                Some(e) => book.state.insert(address.clone(), e.clone()),
                None => book.state.remove(address),
            };
        }
        let Book { state, store, .. } = &mut *book;
        store
            .save(state)
            .map_err(|e| plan_err(format!("saving state: {e}")))
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
                let mut keys = (self.keys)();
                let (pem, created) = blocking(move || local_ops::create_ca(&dir, keys.as_mut())).await?;
                let entry = Self::entry(
                    change,
                    &[("cert_sha256", json!(pem_sha256(&pem)))],
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
                    ResourceKind::Ca => PathBuf::from(Self::after_str(change, "dir")?).join("ca.crt"),
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
            Op::IssueCert => self.issue_cert(change).await,
            Op::UploadPackage => self.upload(change, &app).await,
            Op::RegisterNode => self.register(change, &app).await,
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
                let patch = self.patch_id_of(server).await?;
                let row = tars_ops::patch_and_check(&*self.api, self.timing, &app, server, ip, patch).await?;
                let mut entry = self.current_entry(address).await.unwrap_or_else(|| {
                    Self::entry(change, &[("server_id", json!(row.id))], ResourceStatus::Ready)
                });
                entry.status = ResourceStatus::Ready;
                entry.attributes.insert("patch_id".into(), json!(patch));
                Ok(Outcome {
                    undo: Undo::StopNode {
                        server: server.into(),
                        ip: ip.into(),
                    },
                    state: vec![(address.clone(), Some(entry))],
                })
            }
            Op::RestartNode => self.restart(change, &app).await,
            Op::UndeployForReplace => self.undeploy(change, &app, true).await,
            Op::UndeployNode => self.undeploy(change, &app, false).await,
            Op::Forget => Ok(nothing(vec![(address.clone(), None)])),
        }
    }

    async fn current_entry(&self, address: &Address) -> Option<ResourceState> {
        self.book.lock().await.state.get(address).cloned()
    }

    async fn preflight(&self) -> StepResult<()> {
        self.api.check_token().await?;
        let wanted = &self.plan.preconditions.tarsnodes_alive;
        if !wanted.is_empty() {
            let nodes = self.api.list_tars_node().await?;
            for ip in wanted {
                match nodes.iter().find(|n| &n.node_name == ip) {
                    Some(n) if n.is_alive() => {}
                    Some(_) => {
                        return Err(plan_err(format!(
                            "tarsnode {ip} is registered but not alive\nhint: start tarsnode on {ip} (Tars web → Operations → Node management) and run apply again"
                        )));
                    }
                    None => {
                        return Err(plan_err(format!(
                            "tarsnode {ip} is not registered with Tars\nhint: install tarsnode on {ip} first (BcosBuilder docker/…/node/docker-compose.yml)"
                        )));
                    }
                }
            }
        }
        for (kind, ca) in &self.plan.preconditions.ca {
            if ca.matches_tars == Some(false) {
                return Err(plan_err(format!(
                    "the {kind} CA at {} is not the one Tars serves to the existing nodes",
                    ca.dir
                )));
            }
            if let Some(expected) = &ca.cert_sha256 {
                let path = Path::new(&ca.dir).join("ca.crt");
                let digest = pem_sha256(&local_ops::read_text(&path)?);
                if &digest != expected {
                    return Err(plan_err(format!(
                        "{}: changed since the plan was made\nhint: run `tarsform plan` again",
                        path.display()
                    )));
                }
            }
        }
        for change in &self.plan.changes {
            if change.address.kind() == ResourceKind::Server && change.action != Action::Delete {
                let source = Self::after_str(change, "package_source")?;
                if !Path::new(source).is_file() {
                    return Err(plan_err(format!(
                        "{}: package source {source} is missing\nhint: put BcosRpcService.tgz / BcosGatewayService.tgz in `tars_pkg_dir`",
                        change.address
                    )));
                }
            }
        }
        Ok(())
    }

    async fn issue_cert(&self, change: &ResourceChange) -> StepResult<Outcome> {
        let ca_addr: Address = Self::after_str(change, "ca")?
            .parse()
            .map_err(|e| plan_err(format!("{}: {e}", change.address)))?;
        let ca_dir = match self.plan.change(&ca_addr) {
            Some(c) => Self::after_str(c, "dir")?.to_string(),
            None => self
                .state_attr(&ca_addr, "dir")
                .await
                .and_then(|v| v.as_str().map(str::to_string))
                .ok_or_else(|| plan_err(format!("{}: no directory known for {ca_addr}", change.address)))?,
        };
        let purpose = Self::after_str(change, "purpose")?;
        let cert_path = PathBuf::from(Self::after_str(change, "cert_path")?);
        let key_path = PathBuf::from(Self::after_str(change, "key_path")?);
        let mut keys = (self.keys)();
        let (purpose, cert, key) = (purpose.to_string(), cert_path.clone(), key_path.clone());
        let (pem, files) =
            blocking(move || local_ops::issue_cert(Path::new(&ca_dir), &purpose, &cert, &key, keys.as_mut()))
                .await?;
        let entry = Self::entry(
            change,
            &[("cert_sha256", json!(pem_sha256(&pem)))],
            ResourceStatus::Ready,
        );
        Ok(Outcome {
            undo: Undo::RemoveFiles {
                paths: files.created,
                replaced: files.replaced,
            },
            state: vec![(change.address.clone(), Some(entry))],
        })
    }

    async fn upload(&self, change: &ResourceChange, app: &str) -> StepResult<Outcome> {
        let server = change.address.server_name().unwrap_or_default();
        let kind = ServiceKind::of_server(server)
            .ok_or_else(|| plan_err(format!("{}: not an rpc or gateway server name", change.address)))?;
        let source = PathBuf::from(Self::after_str(change, "package_source")?);
        let expected = change
            .after
            .as_ref()
            .and_then(|a| a.get("package_sha256"))
            .and_then(Value::as_str);
        let package = local_ops::build_package(&source, kind, server, expected)?;
        let path = PathBuf::from(Self::after_str(change, "package_path")?);
        local_ops::write_file(&path, &package, false)?;
        let patch_id = tars_ops::upload_package(&*self.api, app, server, &package).await?;
        let entry = Self::entry(
            change,
            &[
                ("patch_id", json!(patch_id)),
                ("package_sha256", json!(sha256_hex(&package))),
            ],
            ResourceStatus::Ready,
        );
        Ok(Outcome {
            undo: Undo::Nothing,
            state: vec![(change.address.clone(), Some(entry))],
        })
    }

    async fn register(&self, change: &ResourceChange, app: &str) -> StepResult<Outcome> {
        let (server, ip) = node_keys(&change.address);
        let obj = Self::after_str(change, "obj_name")?;
        let source = expand_source(&self.plan, &change.address);
        let undeploy = Undo::UndeployNode {
            server: server.into(),
            ip: ip.into(),
        };
        let (row, port) = match tars_ops::register_node(&*self.api, app, server, obj, ip, source).await {
            Ok(registered) => registered,
            Err(e @ OpError::Unsettled(_)) => {
                let step = format!("{} {}", Op::RegisterNode.as_str(), change.address);
                self.unsettled
                    .lock()
                    .expect("unsettled lock")
                    .push((step, undeploy));
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let entry = Self::entry(
            change,
            &[("server_id", json!(row.id)), ("adapter_port", json!(port))],
            ResourceStatus::Tainted,
        );
        Ok(Outcome {
            undo: undeploy,
            state: vec![(change.address.clone(), Some(entry))],
        })
    }

    async fn push_config(&self, change: &ResourceChange, app: &str) -> StepResult<Outcome> {
        let address = &change.address;
        let (server, ip, file) = (&address.keys()[0], &address.keys()[1], &address.keys()[2]);
        let local_path = PathBuf::from(Self::after_str(change, "local_path")?);
        let planned = change
            .after
            .as_ref()
            .and_then(|a| a.get("content"))
            .and_then(Value::as_str);
        let mut created_local = None;
        let content = match planned {
            Some(text) => {
                if !local_path.exists() {
                    created_local = Some(local_path.clone());
                }
                if local_ops::read_text(&local_path).ok().as_deref() != Some(text) {
                    local_ops::write_file(&local_path, text.as_bytes(), false)?;
                }
                text.to_string()
            }
            None => local_ops::read_text(&local_path)?,
        };
        let digest = sha256_hex(content.as_bytes());
        Self::check_planned_digest(change, "content_sha256", &digest, &local_path)?;
        let row = tars_ops::node_row(&*self.api, self.timing, app, server, ip, file).await?;
        let old = self
            .api
            .config_file(row.id)
            .await?
            .map(|r| r.config)
            .unwrap_or_default();
        if old != content {
            self.api
                .update_config_file(row.id, &content, "tarsform apply")
                .await?;
        }
        let sensitive = change.sensitive.contains("content");
        let undo = if change.action == Action::Create || old.trim().is_empty() {
            Undo::DeleteConfigRow {
                server: server.clone(),
                ip: ip.clone(),
                file: file.clone(),
                created_local,
            }
        } else {
            Undo::RestoreConfig {
                id: row.id,
                server: server.clone(),
                ip: ip.clone(),
                file: file.clone(),
                public_content: (!sensitive).then(|| old.clone()),
                content_lost: sensitive,
                content: Some(old),
            }
        };
        let filled = [("config_id", json!(row.id)), ("content_sha256", json!(digest))];
        let entry = Self::entry(change, &filled, ResourceStatus::Ready);
        Ok(Outcome {
            undo,
            state: vec![(address.clone(), Some(entry))],
        })
    }

    async fn restart(&self, change: &ResourceChange, app: &str) -> StepResult<Outcome> {
        let (server, ip) = node_keys(&change.address);
        let row = tars_ops::find_node(&*self.api, app, server, ip)
            .await?
            .ok_or_else(|| {
                plan_err(format!(
                    "server `{server}`: node {ip} is not in Tars; run `tarsform plan`"
                ))
            })?;
        let patch = self.patch_id_of(server).await?;
        let previous = row.patch_id();
        let repatched = previous != Some(patch);
        if repatched {
            tars_ops::patch_and_check(&*self.api, self.timing, app, server, ip, patch).await?;
        } else {
            tars_ops::command_node(&*self.api, self.timing, app, server, ip, TaskCommand::Restart).await?;
        }
        let mut entry = self
            .current_entry(&change.address)
            .await
            .unwrap_or_else(|| Self::entry(change, &[("server_id", json!(row.id))], ResourceStatus::Ready));
        for (k, v) in change.after.clone().unwrap_or_default() {
            if !change.after_unknown.contains(&k)
                && !matches!(k.as_str(), "restart_reason" | "register" | "content")
            {
                entry.attributes.insert(k, v);
            }
        }
        entry.attributes.insert("patch_id".into(), json!(patch));
        entry.status = ResourceStatus::Ready;
        Ok(Outcome {
            undo: Undo::RestartNode {
                server: server.into(),
                ip: ip.into(),
                previous_patch: previous,
                repatched,
            },
            state: vec![(change.address.clone(), Some(entry))],
        })
    }

    /// Undeploys a node; its inverse registers it again from the local files. When
    /// `replacing`, the node stays in state (tainted) and its files stay on disk.
    async fn undeploy(&self, change: &ResourceChange, app: &str, replacing: bool) -> StepResult<Outcome> {
        let (server, ip) = node_keys(&change.address);
        let obj = change.attr_str("obj_name").unwrap_or_default().to_string();
        let forget = if replacing {
            vec![]
        } else {
            vec![(change.address.clone(), None)]
        };
        let Some(row) = tars_ops::find_node(&*self.api, app, server, ip).await? else {
            return Ok(Outcome {
                undo: Undo::Nothing,
                state: forget,
            });
        };
        let files = self.local_files_of(server, ip).await;
        tars_ops::command_node(
            &*self.api,
            self.timing,
            app,
            server,
            ip,
            TaskCommand::UndeployTars,
        )
        .await?;
        tars_ops::clean_after_undeploy(&*self.api, app, server, ip).await?;
        if !replacing
            && let Some((_, path)) = files.iter().find(|(f, _)| f == "config.ini")
            && let Some(dir) = path.parent()
        {
            self.commit_removals
                .lock()
                .expect("removals lock")
                .push(dir.to_path_buf());
        }
        Ok(Outcome {
            undo: Undo::Redeploy {
                server: server.into(),
                ip: ip.into(),
                obj_name: obj,
                patch_id: row.patch_id(),
                files,
            },
            state: forget,
        })
    }

    /// `(file, local path)` of every config of a node recorded in state.
    async fn local_files_of(&self, server: &str, ip: &str) -> Vec<(String, PathBuf)> {
        let book = self.book.lock().await;
        let node = Address::node(server, ip);
        book.state
            .resources
            .iter()
            .filter(|(a, _)| a.kind() == ResourceKind::Config && a.owning_node().as_ref() == Some(&node))
            .filter_map(|(a, r)| {
                let path = r.attributes.get("local_path")?.as_str()?;
                Some((a.leaf_name()?.to_string(), PathBuf::from(path)))
            })
            .collect()
    }

    /// Runs one inverse against Tars and the local files.
    pub async fn run_undo(&self, undo: &Undo) -> Result<(), String> {
        self.run_undo_inner(undo)
            .await
            .map_err(|e| redact(&e.to_string()))
    }

    async fn run_undo_inner(&self, undo: &Undo) -> StepResult<()> {
        let app = self.app().to_string();
        let api = &*self.api;
        match undo {
            Undo::Nothing => {}
            Undo::RemoveFiles { paths, replaced } => local_ops::undo_files(paths, replaced)?,
            Undo::UndeployNode { server, ip } => {
                if tars_ops::find_node(api, &app, server, ip).await?.is_some() {
                    tars_ops::command_node(api, self.timing, &app, server, ip, TaskCommand::UndeployTars)
                        .await?;
                }
                tars_ops::clean_after_undeploy(api, &app, server, ip).await?;
            }
            Undo::DeleteConfigRow {
                server,
                ip,
                file,
                created_local,
            } => {
                for row in tars_ops::node_rows(api, &app, server, ip).await? {
                    if &row.filename == file {
                        api.delete_config_file(row.id).await?;
                    }
                }
                if let Some(p) = created_local {
                    local_ops::undo_files(std::slice::from_ref(p), &[])?;
                }
            }
            Undo::RestoreConfig {
                id,
                file,
                content,
                public_content,
                ..
            } => {
                let old = content.as_ref().or(public_content.as_ref()).ok_or_else(|| {
                    plan_err(format!(
                        "the old content of {file} (row {id}) is sensitive and was not kept"
                    ))
                })?;
                api.update_config_file(*id, old, "tarsform rollback").await?;
            }
            Undo::StopNode { server, ip } => {
                if tars_ops::find_node(api, &app, server, ip).await?.is_some() {
                    tars_ops::command_node(api, self.timing, &app, server, ip, TaskCommand::Stop).await?;
                }
            }
            Undo::RestartNode {
                server,
                ip,
                previous_patch,
                repatched,
            } => {
                self.pending_restarts
                    .lock()
                    .expect("restart lock")
                    .push(PendingRestart {
                        server: server.clone(),
                        ip: ip.clone(),
                        previous_patch: *previous_patch,
                        repatched: *repatched,
                    });
            }
            Undo::Redeploy {
                server,
                ip,
                obj_name,
                patch_id,
                files,
            } => {
                // Registered as at first: expanded from a remaining node (TarsWeb copies its
                // adapter settings), deployed when none remains.
                let source = api
                    .server_list(&app, Some(server))
                    .await?
                    .into_iter()
                    .map(|s| s.node_name)
                    .filter(|n| n != ip)
                    .min();
                tars_ops::register_node(api, &app, server, obj_name, ip, source.as_deref()).await?;
                for (file, path) in files {
                    let content = local_ops::read_text(path)?;
                    let row = tars_ops::node_row(api, self.timing, &app, server, ip, file).await?;
                    api.update_config_file(row.id, &content, "tarsform rollback")
                        .await?;
                }
                if let Some(patch) = patch_id {
                    tars_ops::patch_and_check(api, self.timing, &app, server, ip, *patch).await?;
                }
            }
        }
        Ok(())
    }

    /// Undoes what failed steps may have left (a node registered before a later read
    /// failed), then restarts the nodes whose restart was undone, now that their configs
    /// are back. Returns `(step or node, error)` for each that failed.
    pub async fn finish_rollback(&self) -> Vec<(String, String)> {
        let unsettled = std::mem::take(&mut *self.unsettled.lock().expect("unsettled lock"));
        let mut failures = Vec::new();
        for (step, undo) in unsettled {
            if let Err(e) = self.run_undo(&undo).await {
                failures.push((step, format!("{e}\n  by hand: {}", undo.manual_hint())));
            }
        }
        let pending = std::mem::take(&mut *self.pending_restarts.lock().expect("restart lock"));
        let app = self.app().to_string();
        for p in pending {
            let result = match (p.repatched, p.previous_patch) {
                (true, Some(prev)) => {
                    tars_ops::patch_and_check(&*self.api, self.timing, &app, &p.server, &p.ip, prev)
                        .await
                        .map(|_| ())
                }
                _ => {
                    tars_ops::command_node(
                        &*self.api,
                        self.timing,
                        &app,
                        &p.server,
                        &p.ip,
                        TaskCommand::Restart,
                    )
                    .await
                }
            };
            if let Err(e) = result {
                failures.push((
                    format!("restart {} on {}", p.server, p.ip),
                    redact(&e.to_string()),
                ));
            }
        }
        failures
    }

    /// After success: drop files of deleted nodes and backups of replaced leaves.
    pub fn commit_files(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for dir in self.commit_removals.lock().expect("removals lock").drain(..) {
            if let Err(e) = local_ops::remove_dir(&dir) {
                problems.push(e.to_string());
            }
            // The server's folder goes too once its last node is gone.
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        problems
    }

    /// Restores the state entries a step replaced (used by crash recovery too).
    pub async fn restore_prior(
        &self,
        prior: &BTreeMap<Address, Option<ResourceState>>,
    ) -> Result<(), String> {
        self.restore_state(prior).await.map_err(|e| e.to_string())
    }

    pub async fn journal_phase(&self, step: &str, phase: StepPhase, detail: Value) {
        let _ = self.journal(step, phase, detail).await;
    }
}

/// Makes a key source per certificate step, so keys are generated in parallel.
pub type KeyFactory = Box<dyn Fn() -> Box<dyn KeySource + Send> + Send + Sync>;

/// The key factory of real runs: fresh RSA-2048 keys from the system.
pub fn system_keys() -> KeyFactory {
    Box::new(|| Box::new(crate::pki::SystemKeys::new()))
}

/// Runs CPU-heavy key generation off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, LocalError> + Send + 'static,
) -> StepResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| plan_err(format!("key generation stopped: {e}")))?
        .map_err(StepError::from)
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
        match self.perform(step).await {
            Ok(outcome) => {
                let prior = self.record(&outcome).await.map_err(|e| e.to_string())?;
                let record = UndoRecord {
                    undo: outcome.undo,
                    prior_state: prior,
                };
                let detail = serde_json::to_value(&record).unwrap_or(Value::Null);
                self.journal(&step.id, StepPhase::Completed, detail)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(record)
            }
            Err(e) => {
                let message = redact(&e.to_string());
                let _ = self
                    .journal(&step.id, StepPhase::Failed, json!({ "error": message }))
                    .await;
                Err(message)
            }
        }
    }

    async fn undo(&self, step: &Step, record: &UndoRecord) -> Result<(), String> {
        let result = self.run_undo(&record.undo).await;
        let result = match result {
            Ok(()) => self.restore_prior(&record.prior_state).await,
            Err(e) => Err(format!("{e}\n  by hand: {}", record.undo.manual_hint())),
        };
        let phase = if result.is_ok() {
            StepPhase::Undone
        } else {
            StepPhase::UndoFailed
        };
        self.journal_phase(&step.id, phase, json!({ "error": result.as_ref().err() }))
            .await;
        result
    }
}
