//! The route table: every `/api/<name>` the emulator serves, its HTTP methods, its
//! `validParams` filter, and the handler. Handlers run with the state locked and
//! return a [`Reply`]; they never await.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::Method;

use super::params::Params;
use super::reply::{Fail, Reply};
use super::state::{Inner, Shared};

mod adapters;
mod apps;
mod configs;
mod expand;
mod nodes;
mod patches;
mod servers;
mod tasks;

/// One uploaded file of a multipart request.
#[derive(Debug, Clone)]
pub struct Upload {
    pub bytes: Bytes,
}

/// What a handler sees.
pub struct Ctx<'a> {
    pub inner: &'a mut Inner,
    pub shared: &'a Arc<Shared>,
    pub params: Params,
    pub uid: String,
    pub files: Vec<Upload>,
}

impl Ctx<'_> {
    /// TarsWeb's `hasDevAuth`/`hasOpeAuth` for a caller with no role rows: only admin passes.
    pub fn require_admin(&self) -> Result<(), Fail> {
        if self.uid == "admin" {
            Ok(())
        } else {
            Err(Fail::NoPrivilege)
        }
    }

    /// Marks the model as changed (persisted after the request).
    pub fn changed(&mut self) {
        self.inner.dirty = true;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    PostOrPut,
}

impl Verb {
    pub fn allows(self, method: &Method) -> bool {
        match self {
            Verb::Get => method == Method::GET || method == Method::HEAD,
            Verb::Post => method == Method::POST,
            Verb::PostOrPut => method == Method::POST || method == Method::PUT,
        }
    }
}

pub type Handler = fn(&mut Ctx) -> Reply;

pub struct Route {
    pub name: &'static str,
    pub verb: Verb,
    pub handler: Handler,
    /// The route's `validParams`: other keys are dropped before the handler (and the
    /// locale) see them.
    pub valid_params: Option<&'static [&'static str]>,
    /// Login-exempt.
    pub public: bool,
}

const fn route(name: &'static str, verb: Verb, handler: Handler) -> Route {
    Route {
        name,
        verb,
        handler,
        valid_params: None,
        public: false,
    }
}

static ROUTES: &[Route] = &[
    route("add_application", Verb::Post, apps::add_application),
    route("application_list", Verb::Get, apps::application_list),
    route("server_list", Verb::Get, servers::server_list),
    route("server", Verb::Get, servers::server),
    route("get_realtime_state", Verb::Get, servers::realtime_state),
    route("auto_port", Verb::Get, servers::auto_port),
    route("deploy_server", Verb::Post, servers::deploy_server),
    route("adapter_conf_list", Verb::Get, adapters::adapter_conf_list),
    route("update_adapter_conf", Verb::Post, adapters::update_adapter_conf),
    route("add_adapter_conf", Verb::Post, adapters::add_adapter_conf),
    route("config_file_list", Verb::Get, configs::config_file_list),
    route("add_config_file", Verb::Post, configs::add_config_file),
    route("node_config_file_list", Verb::Get, configs::node_config_file_list),
    route("update_config_file", Verb::Post, configs::update_config_file),
    route("config_file", Verb::Get, configs::config_file),
    route("delete_config_file", Verb::Get, configs::delete_config_file),
    route("merged_node_config", Verb::Get, configs::merged_node_config),
    route(
        "upload_patch_package",
        Verb::PostOrPut,
        patches::upload_patch_package,
    ),
    route("get_server_patch", Verb::Get, patches::get_server_patch),
    Route {
        valid_params: Some(expand::PREVIEW_PARAMS),
        ..route("expand_server_preview", Verb::Post, expand::expand_server_preview)
    },
    route("expand_server", Verb::Post, expand::expand_server),
    route("add_task", Verb::Post, tasks::add_task),
    route("task", Verb::Get, tasks::task),
    route("node_list", Verb::Get, nodes::node_list),
    route("list_tars_node", Verb::Get, nodes::list_tars_node),
    route("check_tars_node", Verb::Get, nodes::check_tars_node),
    Route {
        public: true,
        ..route("ticket", Verb::Get, nodes::ticket)
    },
];

/// The name of every endpoint served (the path segment after `/api/`).
pub fn names() -> impl Iterator<Item = &'static str> {
    ROUTES.iter().map(|r| r.name)
}

pub fn find(name: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.name == name)
}
