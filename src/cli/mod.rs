//! Command-line interface: clap definitions and one function per command.
//!
//! Orchestration only: commands call into the pure core and the I/O modules, print
//! data to stdout and logs to stderr, and map outcomes to exit codes here, in one place.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod apply;
mod backend;
mod completions;
mod config_files;
mod demo;
mod diagnostics;
mod emulator;
mod force_unlock;
mod graph;
mod health;
mod import;
pub mod inputs;
mod key_custody;
mod keycenter;
mod local_files;
mod log;
mod plan;
mod policy;
mod refresh;
mod render;
mod restart;
mod rollback;
mod run_timeout;
mod show;
mod state;
mod state_sync;
mod status;
mod tars_client;
mod terraform_flags;
mod validate;

pub use run_timeout::RunTimeoutArg;

/// What a command reports besides errors; mapped to the process exit code in [`main`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 2: `plan --detailed-exitcode` found changes.
    ChangesPresent,
    /// Exit 1: apply failed and rollback restored everything (the report is printed).
    FailedRolledBack,
    /// Exit 3: apply failed and rollback was incomplete.
    RollbackIncomplete,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::FailedRolledBack => 1,
            Outcome::ChangesPresent => 2,
            Outcome::RollbackIncomplete => 3,
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "tarsform",
    version,
    about = "Plan, apply and roll back FISCO BCOS Pro RPC/Gateway services on Tars"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Average Tars requests per second (bursts of two minutes' worth; 0: no limit);
    /// the default keeps any 10 minutes below TarsWeb's 5,000 requests per address.
    #[arg(long = "max-rps", global = true, value_name = "RATE", env = "TARSFORM_MAX_RPS",
          default_value_t = crate::tars::budget::DEFAULT_MAX_RPS, value_parser = tars_client::parse_max_rps)]
    pub max_rps: f64,
    /// No colour in any output (as `NO_COLOR=1`).
    #[arg(long = "no-color", global = true)]
    pub no_color: bool,
}

/// Where the state lives, for every command (see `[backend]` in the topology).
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// State backend: `local`, or `mysql://user@host:port/db` (password from
    /// TARSFORM_BACKEND_PASSWORD); overrides the topology's `[backend]`.
    #[arg(long = "backend", global = true, value_name = "URL", env = "TARSFORM_BACKEND")]
    pub backend: Option<String>,
    /// Wait this long for another run's state lock (e.g. `30s`, `5m`) instead of failing at once.
    #[arg(
        long = "lock-timeout",
        global = true,
        value_name = "DURATION",
        default_value = "0s",
        value_parser = crate::state::backend::parse_lock_timeout
    )]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Human,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// Topology file (BcosBuilder's config.toml, or the same schema in YAML). Repeat to
    /// merge files into one topology: `-c config.toml -c expand.toml`.
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        default_value = "config.toml"
    )]
    pub config: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct StateArg {
    /// State file (default: state/<chain_id>.state.json).
    #[arg(long = "state", value_name = "PATH")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a topology file and summarise it.
    #[command(after_help = "Example:\n  tarsform validate -c conf/expand-agencyA.toml")]
    Validate(ValidateArgs),
    /// Write the generated config files, certificates and packages only.
    #[command(after_help = "Example:\n  tarsform render -c conf/expand-agencyA.toml -o generated")]
    Render(RenderArgs),
    /// Show what apply would change.
    #[command(after_help = "Example:\n  tarsform plan -c config.toml --out plans/expand.plan.json")]
    Plan(PlanArgs),
    /// Make the planned changes in Tars, rolling back on failure.
    #[command(after_help = "Example:\n  tarsform apply plans/expand.plan.json")]
    Apply(ApplyArgs),
    /// Tear down the nodes this topology deployed.
    #[command(
        after_help = "Example:\n  tarsform destroy -c config.toml --target 'node[\"agencyABcosRpcService\"][\"172.25.0.5\"]'"
    )]
    Destroy(DestroyArgs),
    /// Restart the nodes one at a time per server, as a plan, with the health gate.
    #[command(
        after_help = "Example:\n  tarsform restart -c config.toml --target 'server[\"agencyABcosRpcService\"]'"
    )]
    Restart(restart::RestartArgs),
    /// Show a saved plan, or the state.
    #[command(after_help = "Example:\n  tarsform show plans/expand.plan.json --json")]
    Show(ShowArgs),
    /// Print the resource graph as DOT or Mermaid.
    #[command(after_help = "Example:\n  tarsform graph -c config.toml --format mermaid")]
    Graph(GraphArgs),
    /// Live view of the servers and nodes from Tars.
    #[command(after_help = "Example:\n  tarsform status -c config.toml")]
    Status(StatusArgs),
    /// Update the state from Tars and report drift.
    #[command(after_help = "Example:\n  tarsform refresh -c config.toml")]
    Refresh(RefreshArgs),
    /// Adopt a node that already exists in Tars into the state.
    #[command(
        after_help = "Example:\n  tarsform import -c config.toml 'node[\"agencyABcosRpcService\"][\"172.25.0.3\"]'"
    )]
    Import(ImportArgs),
    /// Inspect or edit the state.
    #[command(subcommand, after_help = "Example:\n  tarsform state list -c config.toml")]
    State(StateCommand),
    /// Remove a stale lock left by a killed run.
    #[command(name = "force-unlock", after_help = "Example:\n  tarsform force-unlock 3f2a…")]
    ForceUnlock(ForceUnlockArgs),
    /// Undo an interrupted apply from its journal.
    #[command(after_help = "Example:\n  tarsform rollback -c config.toml")]
    Rollback(RollbackArgs),
    /// Serve a TarsWeb-compatible API on loopback for tests and demos.
    #[command(
        after_help = "Example:\n  tarsform emulator --listen 127.0.0.1:3000 --token t0k --node 172.25.0.3 --node 172.25.0.5"
    )]
    Emulator(EmulatorArgs),
    /// Serve a key-center emulator (stand-in for FISCO-BCOS/key-manager) on loopback.
    #[command(
        after_help = "Example:\n  tarsform keycenter --listen 127.0.0.1:8150 --super-key s3cret [--sm]"
    )]
    Keycenter(keycenter::KeycenterArgs),
    /// Run the founding scenario end to end on an in-process emulator.
    #[command(after_help = "Example:\n  tarsform demo")]
    Demo(DemoArgs),
    /// Print a shell completion script for bash, zsh or fish.
    #[command(
        after_help = "Example:\n  tarsform completions bash > /etc/bash_completion.d/tarsform\n  tarsform completions zsh > \"${fpath[1]}/_tarsform\"\n  tarsform completions fish > ~/.config/fish/completions/tarsform.fish"
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Output directory.
    #[arg(short = 'o', long = "output", default_value = "generated")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
    /// Save the plan to this file for `apply PLANFILE`.
    #[arg(long = "out", value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Output for people, for a pull-request comment, or for programs.
    #[arg(long = "format", value_enum, default_value = "human")]
    pub format: PlanFormat,
    /// Read what Tars reports before planning.
    #[arg(long = "refresh", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub refresh: bool,
    /// Limit the plan to these addresses and everything under them.
    #[arg(long = "target", value_name = "ADDR")]
    pub target: Vec<String>,
    /// Plan the teardown of everything in the state.
    #[arg(long = "destroy")]
    pub destroy: bool,
    /// Exit 0 with no changes, 2 with changes, 1 on error.
    #[arg(long = "detailed-exitcode")]
    pub detailed_exitcode: bool,
    /// Allow running services to switch between RSA and SM certificates
    /// (`rpc_sm_ssl`/`gateway_sm_ssl` changed): every certificate is replaced.
    #[arg(long = "switch-crypto")]
    pub switch_crypto: bool,
    /// Check the plan against the Rego policies in this directory; any `deny` fails it.
    #[arg(long = "policy", value_name = "DIR")]
    pub policy: Option<PathBuf>,
    /// Show every change in full: without it, the same change on more than 20 hosts of
    /// one server is shown once (the JSON always lists each).
    #[arg(long = "full")]
    pub full: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved with `plan --out`.
    pub planfile: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
    /// Do not ask for confirmation.
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// Maximum number of steps in flight.
    #[arg(long = "parallelism", default_value_t = 10)]
    pub parallelism: usize,
    /// On failure keep partial progress instead of rolling back.
    #[arg(long = "no-rollback")]
    pub no_rollback: bool,
    #[command(flatten)]
    pub health: health::HealthArgs,
    /// Allow running services to switch between RSA and SM certificates (see `plan`).
    #[arg(long = "switch-crypto")]
    pub switch_crypto: bool,
    /// Limit the apply to these addresses and everything under them.
    #[arg(long = "target", value_name = "ADDR")]
    pub target: Vec<String>,
    #[command(flatten)]
    pub run_timeout: RunTimeoutArg,
    /// Stream machine-readable events to stdout, one JSON object per line.
    #[arg(long = "json")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
    /// Destroy only these addresses and everything under them.
    #[arg(long = "target", value_name = "ADDR")]
    pub target: Vec<String>,
    /// Do not ask for confirmation.
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// Maximum number of steps in flight.
    #[arg(long = "parallelism", default_value_t = 10)]
    pub parallelism: usize,
    #[command(flatten)]
    pub health: health::HealthArgs,
    #[command(flatten)]
    pub run_timeout: RunTimeoutArg,
    /// Stream machine-readable events to stdout, one JSON object per line.
    #[arg(long = "json")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan saved with `plan --out`; the state when omitted.
    pub planfile: Option<PathBuf>,
    /// Machine-readable JSON instead of the human view.
    #[arg(long = "json")]
    pub json: bool,
    /// Show every change of the plan in full (see `plan --full`).
    #[arg(long = "full")]
    pub full: bool,
    /// Print the result of `apply --json` (its event stream, `-` for stdin) as a
    /// pull-request comment in Markdown.
    #[arg(long = "apply-result", value_name = "EVENTS", conflicts_with_all = ["planfile", "json", "full"])]
    pub apply_result: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Graph language.
    #[arg(long = "format", value_enum, default_value = "dot")]
    pub format: GraphFormat,
    /// Draw a saved plan instead: servers and nodes coloured by action, clustered by
    /// agency and host (DOT only).
    #[arg(long = "plan", value_name = "PLANFILE")]
    pub plan: Option<PathBuf>,
    /// With `--plan`: edges for the order apply follows (what must be done first).
    #[arg(long = "order", requires = "plan")]
    pub order: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
    /// Machine-readable JSON instead of a table.
    #[arg(long = "json")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
    /// The node address to adopt, e.g. node["agencyABcosRpcService"]["172.25.0.3"].
    pub address: String,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the addresses in the state.
    #[command(after_help = "Example:\n  tarsform state list -c config.toml")]
    List(StateListArgs),
    /// Show one resource of the state.
    #[command(
        after_help = "Example:\n  tarsform state show -c config.toml 'node[\"agencyABcosRpcService\"][\"172.25.0.5\"]'"
    )]
    Show(StateAddrArgs),
    /// Forget one resource (Tars is not touched).
    #[command(
        after_help = "Example:\n  tarsform state rm -c config.toml 'node[\"agencyABcosRpcService\"][\"172.25.0.5\"]'"
    )]
    Rm(StateAddrArgs),
    /// Print the stored state (or one kept version) as JSON.
    #[command(after_help = "Example:\n  tarsform state pull -c config.toml > chain0.state.json")]
    Pull(StatePullArgs),
    /// Write a state file into the backend (same lineage, not older than the stored one).
    #[command(after_help = "Example:\n  tarsform state push -c config.toml chain0.state.json")]
    Push(StatePushArgs),
    /// List the kept versions of the state.
    #[command(after_help = "Example:\n  tarsform state history -c config.toml")]
    History(StateListArgs),
    /// Copy the state to another backend, keeping its lineage and serial.
    #[command(
        after_help = "Example:\n  TARSFORM_BACKEND_PASSWORD=… tarsform state migrate -c config.toml --to mysql://tarsform@db:3306/tarsform\n  tarsform state migrate -c config.toml --to local"
    )]
    Migrate(StateMigrateArgs),
}

#[derive(Debug, Args)]
pub struct StatePullArgs {
    /// A kept version instead of the current one.
    #[arg(long = "serial")]
    pub serial: Option<u64>,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct StatePushArgs {
    /// The state file to write, e.g. from `state pull`.
    pub file: PathBuf,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct StateMigrateArgs {
    /// Where to: `local`, a state file path, or `mysql://user@host:port/db`.
    #[arg(long = "to", value_name = "BACKEND")]
    pub to: String,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct StateListArgs {
    /// Only these addresses or prefixes, e.g. `node` or `node["agencyABcosRpcService"]`.
    pub filter: Vec<String>,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct StateAddrArgs {
    /// A resource address, e.g. node["agencyABcosRpcService"]["172.25.0.5"].
    pub address: String,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    /// The lock id printed by the command that found the lock.
    pub lock_id: String,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub state: StateArg,
    /// Do not ask for confirmation.
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    #[command(flatten)]
    pub health: health::HealthArgs,
    #[command(flatten)]
    pub run_timeout: RunTimeoutArg,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on (loopback by default; port 0 picks a free one).
    #[arg(long = "listen", default_value = "127.0.0.1:3000")]
    pub listen: String,
    /// The token accepted as `ticket` (any non-empty ticket when not given).
    #[arg(long = "token", env = "TARSFORM_EMULATOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Register a live tarsnode with this IP (repeatable).
    #[arg(long = "node")]
    pub node: Vec<String>,
    /// Persist the model in this JSON file.
    #[arg(long = "data")]
    pub data: Option<PathBuf>,
    /// Delay every response by this many milliseconds.
    #[arg(long = "latency-ms", default_value_t = 0)]
    pub latency_ms: u64,
    /// How long a task takes to move through its states.
    #[arg(long = "task-ms", default_value_t = 200)]
    pub task_ms: u64,
    /// Fault rules: api:ENDPOINT#N, task:COMMAND@IP, node-down:IP, crash:SERVER@IP,
    /// dies-later:SERVER@IP, busy:IP, late-start:IP@MS, no-restart:IP, patch-not-ready:IP#N, registry-down,
    /// late:ENDPOINT#N@MS (repeatable; SERVER or IP may be *).
    #[arg(long = "fail")]
    pub fail: Vec<String>,
    /// Like a real TarsWeb: callers from 127.0.0.1 are admin whatever their ticket.
    #[arg(long = "loopback-admin")]
    pub loopback_admin: bool,
    /// Like upstream TarsWeb: REQUESTS/SECONDS per caller address, then HTTP 429 (e.g. 5000/600).
    #[arg(long = "rate-limit", value_name = "REQUESTS/SECONDS")]
    pub rate_limit: Option<crate::emulator::RateLimit>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo workspace in this directory instead of a temporary one.
    #[arg(long = "workspace")]
    pub workspace: Option<PathBuf>,
    /// National cryptography: SM2/SM3 SSL for rpc and gateway, and storage security
    /// through a key-center emulator (SM4).
    #[arg(long = "sm")]
    pub sm: bool,
    /// Print every command's full output (plan, progress) instead of the story's lines.
    #[arg(long = "verbose")]
    pub verbose: bool,
}

/// Parses the command line, runs the command and maps its outcome to an exit code:
/// 0 success, 1 error (usage errors too), 2 only for changes present, 3 rollback incomplete.
pub fn main() -> ExitCode {
    let args = terraform_flags::to_double_dash(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(config_files::take_repeated(args)) {
        Ok(cli) => cli,
        // Help and version exit 0; a usage error exits 1 (clap's 2 is "changes present").
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(u8::from(err.use_stderr()));
        }
    };
    let json_output = diagnostics::wanted(&cli.command);
    backend::set_flags(backend::BackendFlags {
        backend: cli.backend.backend.clone(),
        lock_timeout: cli.backend.lock_timeout,
    });
    tars_client::set_max_rps(cli.max_rps);
    inputs::set_no_color(cli.no_color);
    log::init();
    match run(cli.command) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            eprintln!("error: {}", error_text(&err));
            print!("{}", diagnostics::render(json_output, &err));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, "a: b: c", without a cause the text already holds (an error
/// that prints its source would show it twice).
fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Validate(a) => validate::run(a),
        Command::Render(a) => render::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Show(a) => show::run(a),
        Command::Graph(a) => graph::run(a),
        Command::State(c) => state::run(c),
        Command::ForceUnlock(a) => force_unlock::run(a),
        Command::Emulator(a) => emulator::run_cli(a),
        Command::Keycenter(a) => keycenter::run(a),
        Command::Apply(a) => apply::run(a),
        Command::Destroy(a) => apply::run_destroy(a),
        Command::Restart(a) => restart::run(a),
        Command::Rollback(a) => rollback::run(a),
        Command::Completions(a) => completions::run(a),
        Command::Refresh(a) => refresh::run(a),
        Command::Import(a) => import::run(a),
        Command::Status(a) => status::run(a),
        Command::Demo(a) => demo::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn a_cause_the_message_already_shows_is_not_repeated() {
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let err = anyhow::Error::new(crate::state::StateError::Io {
            path: "state/chain0.state.json".into(),
            action: "append to the journal",
            source: full,
        });
        let text = error_text(&err);
        assert_eq!(text.matches("No space left on device").count(), 1, "{text}");
        let wrapped = anyhow::anyhow!("outer").context("while saving");
        assert_eq!(error_text(&wrapped), "while saving: outer");
    }
}
