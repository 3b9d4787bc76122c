//! `HttpTarsClient`: [`TarsApi`] over TarsWeb's HTTP API (tarsweb-api.md §6).
//!
//! Each method is one endpoint (two for `add_application` and `check_token`);
//! transport, retries and error building live in [`super::http`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use serde_json::{Value, json};

use super::adapter::AdapterConf;
use super::api::TarsApi;
use super::coalesce::Coalescer;
use super::dto::{
    AppCreated, ApplicationEntry, AutoPort, ConfigFile, DeployRequest, DeployResponse, ExpandPreviewItem,
    ExpandPreviewRequest, ExpandRequest, NodePage, Patch, ServerConf, TarsNodeInfo, TicketOwner,
};
use super::error::TarsError;
use super::http::{Body, Call, ClientConfig, Reply, Transport};
use super::task::{Task, TaskRequest};
use crate::secret::Secret;

/// The real Tars client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct HttpTarsClient {
    transport: Transport,
    /// Bounds the registrations (`deploy_server`, `expand_server`) in flight.
    registrations: Arc<Semaphore>,
    /// Identical reads at once share requests (see [`Coalescer`]).
    reads: Arc<Coalescer>,
    /// Rows in the last application-wide `server_list` reply (see [`APP_WIDE_ROWS`]).
    app_rows: Arc<AtomicUsize>,
}

/// Polled server rows come from one application-wide `server_list` (shared by every
/// server of the application) while the application has at most this many rows; a
/// larger one is read per server.
pub const APP_WIDE_ROWS: usize = 400;

/// TarsWeb runs a registration in a database transaction that holds one connection of its
/// pool (10 by default) while it reads on another: ten at once starve the pool, and every
/// one of them fails after the pool's acquire timeout (seen on the real kit at
/// `--parallelism 10`). A few at a time keep connections free for everything else.
const REGISTRATIONS_AT_ONCE: usize = 3;

/// Query parameters that select a server's config files without sets.
fn server_config_query(app: &str, server: &str) -> Vec<(&'static str, String)> {
    vec![
        ("level", "5".to_string()),
        ("application", app.to_string()),
        ("server_name", server.to_string()),
        ("set_name", String::new()),
        ("set_area", String::new()),
        ("set_group", String::new()),
    ]
}

/// `data` that is a JSON object with an `id`: an existing row. `{}` means "not found".
fn has_id(data: &Value) -> bool {
    data.as_object().is_some_and(|o| o.contains_key("id"))
}

impl HttpTarsClient {
    pub fn new(config: ClientConfig) -> Result<Self, TarsError> {
        Ok(HttpTarsClient {
            transport: Transport::new(config)?,
            registrations: Arc::new(Semaphore::new(REGISTRATIONS_AT_ONCE)),
            reads: Arc::default(),
            app_rows: Arc::default(),
        })
    }

    /// Waits for a free registration slot; the slot is held until the guard drops.
    async fn registration_turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed; `None` would only mean no bound.
        self.registrations.acquire().await.ok()
    }

    /// The configured per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.transport.config.timeout
    }

    /// Requests sent so far by this client and its clones (retries included).
    pub fn calls(&self) -> u64 {
        self.transport.calls()
    }

    /// Every call made after `limit` has passed from now fails with
    /// [`TarsError::RunDeadline`]: the whole-run `--timeout`.
    pub fn with_run_limit(mut self, limit: Duration) -> Self {
        self.transport.set_run_limit(limit);
        self
    }

    /// Secrets besides the token (e.g. `cipher_data_key`) that errors must never show.
    pub fn with_secrets(self, secrets: impl IntoIterator<Item = Secret>) -> Self {
        secrets
            .into_iter()
            .for_each(|s| self.transport.redactor.add_secret(&s));
        self
    }

    async fn call(&self, call: Call) -> Result<Reply, TarsError> {
        self.transport.call(&call).await
    }

    /// A pure read: shared with identical reads in flight (never an older reply).
    async fn read(&self, call: Call) -> Result<Reply, TarsError> {
        Ok(self.read_since(call, None).await?.1)
    }

    /// [`Self::read`], also sharing a reply whose request started at or after `since`;
    /// with when the answering request started.
    async fn read_since(
        &self,
        call: Call,
        since: Option<std::time::Instant>,
    ) -> Result<(std::time::Instant, Reply), TarsError> {
        let mut key = call.path.to_string();
        for (name, value) in &call.query {
            key.push_str(&format!("&{name}={value}"));
        }
        self.reads
            .read_since(key, since, || self.transport.call(&call))
            .await
    }

    /// Whether Tars knows `app`; only the run's deadline stops the check.
    async fn application_known(&self, app: &str) -> Result<bool, TarsError> {
        match self.application_list().await {
            Ok(names) if names.iter().any(|n| n == app) => return Ok(true),
            Err(e @ TarsError::RunDeadline { .. }) => return Err(e),
            _ => {}
        }
        match self.server_list(app, None).await {
            Ok(rows) => Ok(!rows.is_empty()),
            Err(e @ TarsError::RunDeadline { .. }) => Err(e),
            Err(_) => Ok(false),
        }
    }
}

impl TarsApi for HttpTarsClient {
    async fn server_list(&self, app: &str, server: Option<&str>) -> Result<Vec<ServerConf>, TarsError> {
        let tree = match server {
            Some(server) => format!("1{app}.5{server}"),
            None => format!("1{app}"),
        };
        self.read(Call::get("api/server_list", vec![("tree_node_id", tree)]))
            .await?
            .decode()
    }

    async fn server_list_since(
        &self,
        app: &str,
        server: &str,
        since: std::time::Instant,
    ) -> Result<(std::time::Instant, Vec<ServerConf>), TarsError> {
        let app_wide = self.app_rows.load(Ordering::Relaxed) <= APP_WIDE_ROWS;
        let tree = if app_wide {
            format!("1{app}")
        } else {
            format!("1{app}.5{server}")
        };
        let call = Call::get("api/server_list", vec![("tree_node_id", tree)]);
        let (at, reply) = self.read_since(call, Some(since)).await?;
        let rows: Vec<ServerConf> = reply.decode()?;
        if !app_wide {
            return Ok((at, rows));
        }
        self.app_rows.store(rows.len(), Ordering::Relaxed);
        Ok((at, rows.into_iter().filter(|r| r.server_name == server).collect()))
    }

    async fn server_by_id(&self, id: u64) -> Result<ServerConf, TarsError> {
        self.call(Call::get("api/server", vec![("id", id.to_string())]))
            .await?
            .decode()
    }

    async fn list_tars_node(&self) -> Result<Vec<TarsNodeInfo>, TarsError> {
        let page: NodePage = self
            .call(Call::get("api/list_tars_node", Vec::new()))
            .await?
            .decode()?;
        Ok(page.into_rows())
    }

    async fn check_tars_node(&self, node: &str) -> Result<bool, TarsError> {
        let reply = self
            .call(Call::get(
                "api/check_tars_node",
                vec![("node_name", node.to_string())],
            ))
            .await?;
        // "ping succ" when reachable, `false` when not.
        Ok(match &reply.data {
            Value::String(text) => text.contains("succ"),
            Value::Bool(ok) => *ok,
            _ => false,
        })
    }

    async fn node_list(&self) -> Result<Vec<String>, TarsError> {
        self.call(Call::get("api/node_list", Vec::new())).await?.decode()
    }

    async fn application_list(&self) -> Result<Vec<String>, TarsError> {
        let entries: Vec<ApplicationEntry> = self
            .call(Call::get("api/application_list", Vec::new()))
            .await?
            .decode()?;
        Ok(entries.iter().map(|e| e.name().to_string()).collect())
    }

    async fn add_application(&self, app: &str) -> Result<AppCreated, TarsError> {
        let call = Call::post(
            "api/add_application",
            Body::Form(vec![("f_name", app.to_string())]),
        )
        .about(format!("application `{app}`"));
        match self.call(call).await {
            Ok(_) => Ok(AppCreated::Created),
            Err(err @ (TarsError::Api(_) | TarsError::AlreadyExists { .. })) => {
                if self.application_known(app).await? {
                    Ok(AppCreated::AlreadyExists)
                } else {
                    Err(err)
                }
            }
            Err(err) => Err(err),
        }
    }

    async fn auto_port(&self, node: &str) -> Result<u16, TarsError> {
        let reply = self
            .call(Call::get("api/auto_port", vec![("node_name", node.to_string())]))
            .await?;
        let missing = reply.unexpected(format!("no free port was returned for node {node}"));
        let ports: Vec<AutoPort> = reply.decode()?;
        ports
            .iter()
            .find(|p| p.node_name == node)
            .or(ports.first())
            .map(|p| p.port)
            .filter(|port| *port != 0)
            .ok_or(missing)
    }

    async fn auto_ports(&self, nodes: &[String]) -> Result<Vec<u16>, TarsError> {
        let reply = self
            .call(Call::get("api/auto_port", vec![("node_name", nodes.join(";"))]))
            .await?;
        let missing = |node: &str| reply.unexpected(format!("no free port was returned for node {node}"));
        let ports: Vec<AutoPort> = reply.clone().decode()?;
        nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                ports
                    .iter()
                    .find(|p| &p.node_name == node)
                    .or(ports.get(i).filter(|p| p.node_name.is_empty()))
                    .map(|p| p.port)
                    .filter(|port| *port != 0)
                    .ok_or_else(|| missing(node))
            })
            .collect()
    }

    async fn adapter_conf_list(&self, server_id: u64) -> Result<Vec<AdapterConf>, TarsError> {
        self.read(Call::get(
            "api/adapter_conf_list",
            vec![("id", server_id.to_string())],
        ))
        .await?
        .decode()
    }

    async fn update_adapter_endpoint(
        &self,
        id: u64,
        servant: &str,
        endpoint: &str,
    ) -> Result<AdapterConf, TarsError> {
        let body = json!({"id": id, "servant": servant, "endpoint": endpoint});
        let call =
            Call::post("api/update_adapter_conf", Body::Json(body)).about(format!("adapter `{servant}`"));
        self.call(call).await?.decode()
    }

    async fn add_adapter(
        &self,
        app: &str,
        server: &str,
        node: &str,
        servant: &str,
        endpoint: &str,
    ) -> Result<AdapterConf, TarsError> {
        let body = json!({
            "application": app, "server_name": server, "node_name": node,
            "servant": servant, "endpoint": endpoint, "thread_num": 8,
            "max_connections": 100_000, "queuecap": 50_000, "queuetimeout": 20_000,
            "allow_ip": "", "protocol": "tars", "handlegroup": "",
        });
        let call = Call::post("api/add_adapter_conf", Body::Json(body)).about(format!("adapter `{servant}`"));
        self.call(call).await?.decode()
    }

    async fn deploy_server(&self, req: &DeployRequest) -> Result<Vec<ServerConf>, TarsError> {
        let body = serde_json::to_value(req).map_err(|e| TarsError::Config(e.to_string()))?;
        let call = Call::post("api/deploy_server", Body::Json(body))
            .about(format!("server `{}.{}`", req.application, req.server_name));
        let _turn = self.registration_turn().await;
        let response: DeployResponse = self.call(call).await?.decode()?;
        Ok(response.server_conf)
    }

    async fn expand_server_preview(
        &self,
        req: &ExpandPreviewRequest,
    ) -> Result<Vec<ExpandPreviewItem>, TarsError> {
        let body = serde_json::to_value(req).map_err(|e| TarsError::Config(e.to_string()))?;
        let call = Call::post("api/expand_server_preview", Body::Json(body)).read_only();
        self.call(call).await?.decode()
    }

    async fn expand_server(&self, req: &ExpandRequest) -> Result<(), TarsError> {
        let body = serde_json::to_value(req).map_err(|e| TarsError::Config(e.to_string()))?;
        let _turn = self.registration_turn().await;
        self.call(Call::post("api/expand_server", Body::Json(body)))
            .await?;
        Ok(())
    }

    async fn config_file_list(&self, app: &str, server: &str) -> Result<Vec<ConfigFile>, TarsError> {
        self.read(Call::get(
            "api/config_file_list",
            server_config_query(app, server),
        ))
        .await?
        .decode()
    }

    async fn node_config_file_list(
        &self,
        app: &str,
        server: &str,
        config_id: u64,
    ) -> Result<Vec<ConfigFile>, TarsError> {
        let mut query = server_config_query(app, server);
        query.push(("config_id", config_id.to_string()));
        self.read(Call::get("api/node_config_file_list", query))
            .await?
            .decode()
    }

    async fn config_file_list_since(
        &self,
        app: &str,
        server: &str,
        since: std::time::Instant,
    ) -> Result<(std::time::Instant, Vec<ConfigFile>), TarsError> {
        let call = Call::get("api/config_file_list", server_config_query(app, server));
        let (at, reply) = self.read_since(call, Some(since)).await?;
        Ok((at, reply.decode()?))
    }

    async fn node_config_file_list_since(
        &self,
        app: &str,
        server: &str,
        config_id: u64,
        since: std::time::Instant,
    ) -> Result<(std::time::Instant, Vec<ConfigFile>), TarsError> {
        let mut query = server_config_query(app, server);
        query.push(("config_id", config_id.to_string()));
        let (at, reply) = self
            .read_since(Call::get("api/node_config_file_list", query), Some(since))
            .await?;
        Ok((at, reply.decode()?))
    }

    async fn add_config_file(
        &self,
        app: &str,
        server: &str,
        filename: &str,
        content: &str,
    ) -> Result<ConfigFile, TarsError> {
        let body = json!({
            "level": 5,
            "application": app,
            "server_name": server,
            "node_name": "",
            "filename": filename,
            "config": content,
        });
        let call = Call::post("api/add_config_file", Body::Json(body))
            .about(format!("config file `{filename}` of server `{app}.{server}`"));
        self.call(call).await?.decode()
    }

    async fn update_config_file(
        &self,
        id: u64,
        content: &str,
        reason: &str,
    ) -> Result<ConfigFile, TarsError> {
        let body = json!({"id": id, "config": content, "reason": reason});
        self.call(Call::post("api/update_config_file", Body::Json(body)))
            .await?
            .decode()
    }

    async fn config_file(&self, id: u64) -> Result<Option<ConfigFile>, TarsError> {
        let reply = self
            .call(Call::get("api/config_file", vec![("id", id.to_string())]))
            .await?;
        if has_id(&reply.data) {
            reply.decode().map(Some)
        } else {
            Ok(None)
        }
    }

    async fn delete_config_file(&self, id: u64) -> Result<(), TarsError> {
        let call = Call::get("api/delete_config_file", vec![("id", id.to_string())]).not_idempotent();
        self.call(call).await?;
        Ok(())
    }

    async fn upload_patch_package(
        &self,
        app: &str,
        module: &str,
        task_id: &str,
        file_name: &str,
        bytes: &[u8],
        comment: &str,
    ) -> Result<(), TarsError> {
        let body = Body::Multipart {
            fields: vec![
                ("application", app.to_string()),
                ("module_name", module.to_string()),
                ("task_id", task_id.to_string()),
                ("comment", comment.to_string()),
            ],
            file_name: file_name.to_string(),
            bytes: bytes.to_vec(),
        };
        let call =
            Call::post("api/upload_patch_package", body).with_timeout(self.transport.config.upload_timeout);
        self.call(call).await?;
        Ok(())
    }

    async fn get_server_patch(&self, task_id: &str) -> Result<Option<Patch>, TarsError> {
        let reply = self
            .call(Call::get(
                "api/get_server_patch",
                vec![("task_id", task_id.to_string())],
            ))
            .await?;
        if has_id(&reply.data) {
            reply.decode().map(Some)
        } else {
            Ok(None)
        }
    }

    async fn add_task(&self, req: &TaskRequest) -> Result<String, TarsError> {
        let body = serde_json::to_value(req).map_err(|e| TarsError::Config(e.to_string()))?;
        let reply = self.call(Call::post("api/add_task", Body::Json(body))).await?;
        match &reply.data {
            Value::String(task_no) if !task_no.is_empty() => Ok(task_no.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(reply.unexpected("`data` is not a task number")),
        }
    }

    async fn task(&self, task_no: &str) -> Result<Task, TarsError> {
        self.read(Call::get("api/task", vec![("task_no", task_no.to_string())]))
            .await?
            .decode()
    }

    async fn check_token(&self) -> Result<(), TarsError> {
        let probe = self.call(Call::get("pages/server/api/ticket", Vec::new())).await;
        match probe {
            Ok(reply) => {
                let unknown = reply.failure_with("TarsWeb does not know this token");
                let owner: TicketOwner = reply.decode()?;
                if owner.uid.trim().is_empty() {
                    Err(TarsError::Unauthorized(unknown))
                } else {
                    Ok(())
                }
            }
            // Older TarsWeb: no such route (404 or the static HTML page).
            Err(TarsError::Http(_) | TarsError::Protocol(_)) => self.node_list().await.map(|_| ()),
            Err(err) => Err(err),
        }
    }
}
