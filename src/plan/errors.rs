//! Why a plan cannot be made.

use crate::graph::GraphError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Graph(#[from] GraphError),

    #[error(
        "server `{server}`: node {ip} runs with {from} certificates but the topology asks for {to}: switching replaces every certificate and key of the node (new CA files, new leaves, the old files deleted from Tars)\n\
         hint: run `plan`/`apply` with `--switch-crypto` to do it (all nodes of the service must switch together), or set `{flag} = {keep}` to keep {from}"
    )]
    CryptoSwitch {
        server: String,
        ip: String,
        from: &'static str,
        to: &'static str,
        flag: &'static str,
        keep: bool,
    },

    #[error(
        "server `{server}`: cannot add node {ip}: the {kind} CA at `{dir}` is missing, but {kind} nodes already exist in Tars or state\n\
         hint: point `{kind}_ca_cert_path` at the CA directory the existing nodes were made with (it must hold ca.crt and ca.key); BcosBuilder would silently make a new CA and break SSL"
    )]
    CaMissing {
        server: String,
        ip: String,
        kind: String,
        dir: String,
    },

    #[error(
        "server `{server}`: cannot add node {ip}: the {kind} CA at `{dir}` differs from the ca.crt Tars serves to the existing {kind} nodes\n\
         hint: point `{kind}_ca_cert_path` at the CA the existing nodes use; certificates signed by another CA fail the SSL handshake"
    )]
    CaMismatch {
        server: String,
        ip: String,
        kind: String,
        dir: String,
    },

    #[error(
        "the {kind} CA at `{dir}` {problem}; existing {kind} nodes:\n{}\nnothing was changed\nhint: {hint}",
        nodes.join("\n")
    )]
    CaContinuity {
        kind: String,
        dir: String,
        problem: String,
        nodes: Vec<String>,
        hint: String,
    },

    #[error(
        "this plan would destroy {} node(s) that tarsform imported (it did not create them):\n{}\nnothing was changed\n\
         hint: if a topology file is missing (BcosBuilder users keep the chain in config.toml and expansions in expand.toml), \
         pass every file: `-c config.toml -c expand.toml`; to destroy them on purpose, target them (`tarsform destroy --target 'node[\"<server>\"][\"<ip>\"]'`, \
         or `tarsform plan --destroy --target …` to review it first) or set `prevent_destroy = false` in the service's section",
        nodes.len(),
        nodes.iter().map(|n| format!("  - {n}")).collect::<Vec<_>>().join("\n")
    )]
    ProtectedNodes { nodes: Vec<String> },

    #[error(
        "server `{server}`: the package cannot be built: {reason}\n\
         hint: put the release archive at `{source_path}` (`tars_pkg_dir` in the topology)"
    )]
    PackageMissing {
        server: String,
        source_path: String,
        reason: String,
    },

    #[error(
        "tarsnode {ip} is not {state} in Tars, but nodes must be registered or restarted on it\n\
         hint: start tarsnode on {ip} and check Tars web → Operations → Node management"
    )]
    TarsnodeDown { ip: String, state: &'static str },

    #[error("server `{server}` is in the graph but not in the topology")]
    UnknownServer { server: String },
}
