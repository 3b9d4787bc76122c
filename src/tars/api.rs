//! `TarsApi`: the narrow interface tarsform needs from TarsWeb.
//!
//! Implemented by [`super::HttpTarsClient`] (the real HTTP API) and by test fakes.
//! Methods return `Send` futures so a generic executor can call them from tasks
//! spawned on tokio. Server-level config calls use API level 5 (stored level 2).

use std::future::Future;

use super::adapter::AdapterConf;
use super::dto::{
    AppCreated, ConfigFile, DeployRequest, ExpandPreviewItem, ExpandPreviewRequest, ExpandRequest, Patch,
    ServerConf, TarsNodeInfo,
};
use super::error::TarsError;
use super::task::{Task, TaskRequest};

pub trait TarsApi: Send + Sync + 'static {
    /// The instances of `app` (or of `app`'s `server`); `[]` when none exist.
    fn server_list(
        &self,
        app: &str,
        server: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ServerConf>, TarsError>> + Send;

    /// [`TarsApi::server_list`] of `server`, from a request that started at or after
    /// `since` (pollers may share one recent reply), with when that request started.
    fn server_list_since(
        &self,
        app: &str,
        server: &str,
        since: std::time::Instant,
    ) -> impl Future<Output = Result<(std::time::Instant, Vec<ServerConf>), TarsError>> + Send {
        let _ = since;
        let asked = std::time::Instant::now();
        let read = self.server_list(app, Some(server));
        async move { Ok((asked, read.await?)) }
    }

    /// One instance by its server id.
    fn server_by_id(&self, id: u64) -> impl Future<Output = Result<ServerConf, TarsError>> + Send;

    /// Registered tarsnodes with their liveness.
    fn list_tars_node(&self) -> impl Future<Output = Result<Vec<TarsNodeInfo>, TarsError>> + Send;

    /// Whether TarsWeb's registry reaches tarsnode `node` now (`check_tars_node`: a ping
    /// through tarsAdminRegistry). `list_tars_node` alone cannot tell: without its
    /// registry, TarsWeb keeps showing the last heartbeat.
    fn check_tars_node(&self, node: &str) -> impl Future<Output = Result<bool, TarsError>> + Send;

    /// Names of the registered tarsnodes.
    fn node_list(&self) -> impl Future<Output = Result<Vec<String>, TarsError>> + Send;

    /// Names of the applications in `t_application`.
    fn application_list(&self) -> impl Future<Output = Result<Vec<String>, TarsError>> + Send;

    /// Creates the application. TarsWeb answers a duplicate with a generic system
    /// error; when that happens and `application_list` or `server_list` shows the
    /// application, the result is `Ok(AppCreated::AlreadyExists)`.
    fn add_application(&self, app: &str) -> impl Future<Output = Result<AppCreated, TarsError>> + Send;

    /// A free adapter port on `node` (random in 10000..30000; not reserved).
    fn auto_port(&self, node: &str) -> impl Future<Output = Result<u16, TarsError>> + Send;

    /// A free adapter port on each of `nodes`, in order, with one request.
    fn auto_ports(&self, nodes: &[String]) -> impl Future<Output = Result<Vec<u16>, TarsError>> + Send;

    /// The adapters of the node with server id `server_id` (`adapter_conf_list`).
    fn adapter_conf_list(
        &self,
        server_id: u64,
    ) -> impl Future<Output = Result<Vec<AdapterConf>, TarsError>> + Send;

    /// Sets an adapter's endpoint (`update_adapter_conf`; `servant` is required by TarsWeb
    /// and names the adapter). Takes effect when the node restarts.
    fn update_adapter_endpoint(
        &self,
        id: u64,
        servant: &str,
        endpoint: &str,
    ) -> impl Future<Output = Result<AdapterConf, TarsError>> + Send;

    /// Adds an adapter to a node (`add_adapter_conf`) with BcosBuilder's settings
    /// (8 threads, 100000 connections, queue 50000 / 20000 ms, protocol `tars`).
    fn add_adapter(
        &self,
        app: &str,
        server: &str,
        node: &str,
        servant: &str,
        endpoint: &str,
    ) -> impl Future<Output = Result<AdapterConf, TarsError>> + Send;

    /// Registers the nodes of `req.adapters`. Upserts: it resets an existing node, so
    /// callers must check `server_list` first.
    fn deploy_server(
        &self,
        req: &DeployRequest,
    ) -> impl Future<Output = Result<Vec<ServerConf>, TarsError>> + Send;

    /// The servants an expand would create; no side effects.
    fn expand_server_preview(
        &self,
        req: &ExpandPreviewRequest,
    ) -> impl Future<Output = Result<Vec<ExpandPreviewItem>, TarsError>> + Send;

    /// Copies an existing node's server row and adapters onto new nodes.
    fn expand_server(&self, req: &ExpandRequest) -> impl Future<Output = Result<(), TarsError>> + Send;

    /// Server-level config files of `app.server` (API level 5).
    fn config_file_list(
        &self,
        app: &str,
        server: &str,
    ) -> impl Future<Output = Result<Vec<ConfigFile>, TarsError>> + Send;

    /// Node-level rows of the server-level file `config_id`. TarsWeb returns the rows
    /// as they were before it created the missing ones: call again until a node appears.
    fn node_config_file_list(
        &self,
        app: &str,
        server: &str,
        config_id: u64,
    ) -> impl Future<Output = Result<Vec<ConfigFile>, TarsError>> + Send;

    /// [`TarsApi::config_file_list`] from a request that started at or after `since`
    /// (a read this run made a moment ago may serve), with when that request started.
    fn config_file_list_since(
        &self,
        app: &str,
        server: &str,
        since: std::time::Instant,
    ) -> impl Future<Output = Result<(std::time::Instant, Vec<ConfigFile>), TarsError>> + Send {
        let _ = since;
        let asked = std::time::Instant::now();
        let read = self.config_file_list(app, server);
        async move { Ok((asked, read.await?)) }
    }

    /// [`TarsApi::node_config_file_list`] from a request that started at or after `since`.
    fn node_config_file_list_since(
        &self,
        app: &str,
        server: &str,
        config_id: u64,
        since: std::time::Instant,
    ) -> impl Future<Output = Result<(std::time::Instant, Vec<ConfigFile>), TarsError>> + Send {
        let _ = since;
        let asked = std::time::Instant::now();
        let read = self.node_config_file_list(app, server, config_id);
        async move { Ok((asked, read.await?)) }
    }

    /// Adds a server-level file (level 5). A duplicate gives `TarsError::AlreadyExists`.
    fn add_config_file(
        &self,
        app: &str,
        server: &str,
        filename: &str,
        content: &str,
    ) -> impl Future<Output = Result<ConfigFile, TarsError>> + Send;

    /// Replaces the content of any config row.
    fn update_config_file(
        &self,
        id: u64,
        content: &str,
        reason: &str,
    ) -> impl Future<Output = Result<ConfigFile, TarsError>> + Send;

    /// One config row; `None` when the id is unknown.
    fn config_file(&self, id: u64) -> impl Future<Output = Result<Option<ConfigFile>, TarsError>> + Send;

    /// Deletes a config row (a server-level row takes its node rows with it).
    fn delete_config_file(&self, id: u64) -> impl Future<Output = Result<(), TarsError>> + Send;

    /// Uploads a package (multipart, file field `suse`). The response's id is not the
    /// patch id on old TarsWeb: call [`TarsApi::get_server_patch`] with `task_id`.
    fn upload_patch_package(
        &self,
        app: &str,
        module: &str,
        task_id: &str,
        file_name: &str,
        bytes: &[u8],
        comment: &str,
    ) -> impl Future<Output = Result<(), TarsError>> + Send;

    /// The patch uploaded with `task_id`; `None` when unknown.
    fn get_server_patch(
        &self,
        task_id: &str,
    ) -> impl Future<Output = Result<Option<Patch>, TarsError>> + Send;

    /// Submits a task; returns its `task_no`. Accepted is not done: see `wait::run_task`.
    fn add_task(&self, req: &TaskRequest) -> impl Future<Output = Result<String, TarsError>> + Send;

    /// A task's progress.
    fn task(&self, task_no: &str) -> impl Future<Output = Result<Task, TarsError>> + Send;

    /// Checks that TarsWeb accepts the token; `TarsError::Unauthorized` when not.
    fn check_token(&self) -> impl Future<Output = Result<(), TarsError>> + Send;
}
