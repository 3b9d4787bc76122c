//! Fault injection rules (`--fail RULE`) and the per-endpoint call counters they use.
//!
//! Owns the rule grammar (`api:ENDPOINT#N`, `task:COMMAND@IP`, `node-down:IP`,
//! `late:ENDPOINT#N@MS`, `crash:SERVER@IP`, `dies-later:SERVER@IP`, `late-start:IP@MS`, `no-restart:IP`, `lost-launch:IP[#N]`) and
//! the questions the server asks of the active rules. No I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultRule {
    /// The `nth` call (counting from 1) of `/api/<endpoint>` fails with a system error.
    ApiCall { endpoint: String, nth: u32 },
    /// Tasks running `command` on node `ip` fail.
    Task { command: String, ip: String },
    /// The tarsnode `ip` is down (registered, no heartbeat).
    NodeDown { ip: String },
    /// The `nth` call of `/api/<endpoint>` takes effect, but its answer comes `delay_ms`
    /// later (a slow proxy: the client times out on a write that landed).
    Late {
        endpoint: String,
        nth: u32,
        delay_ms: u64,
    },
    /// The newest package of `server` (`*`: any) exits at once on `ip` (`*`: any): tasks
    /// that start it succeed, but the node stays `activating` (the real Tars' false
    /// success). Older packages (what a rollback puts back) run.
    Crash { server: String, ip: String },
    /// tarsnode `ip` is too busy to answer AdminRegistry in time: tasks run, but their
    /// items are reported FAILED (`getPatchPercent IP error, iRet:1002`).
    Busy { ip: String },
    /// tarspatch is not yet known to AdminRegistry: the first `count` patches on `ip`
    /// fail with `errno:-7` and change nothing.
    PatchNotReady { ip: String, count: u32 },
    /// TarsWeb runs without its registry: tarsnodes keep their last heartbeat in
    /// `list_tars_node`, but `check_tars_node` fails and tasks time out.
    RegistryDown,
    /// The binary comes up `active`, then exits five task durations later and tarsnode
    /// starts it again (`activating`, a new process id).
    DiesLater { server: String, ip: String },
    /// tarsnode `ip` is so busy that AdminRegistry's start call times out: `patch_tars`,
    /// `start` and `restart` items end FAILED ("succ:server state is Inactive."), the
    /// patch lands, the node stays `inactive`, and tarsnode's keep-alive starts it
    /// `delay_ms` later (unless another launch came first).
    LateStart { ip: String, delay_ms: u64 },
    /// AdminRegistry gives up on tarsnode `ip` before the restart of a patch: the patch
    /// lands, a running node keeps its old process (a stopped one is started by
    /// tarsnode's keep-alive), and the item is reported FAILED (`iRet:1002`).
    NoRestart { ip: String },
    /// tarsnode `ip` loses the first `count` launches of each server (its admin port
    /// taken, say): the process never reaches its keep-alive, the node shows `activating`
    /// with that pid for good, or for `give_up_ms` (tarsnode's activating timeout) and then
    /// `inactive`, still set to run (tarsnode does not relaunch it: its limit reached);
    /// the next start or restart after them runs.
    LostLaunch {
        ip: String,
        count: u32,
        give_up_ms: Option<u64>,
    },
}

/// A `--fail` value that matches none of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid fault rule `{rule}`: {reason}\nhint: use api:ENDPOINT#N (e.g. api:deploy_server#1), task:COMMAND@IP (e.g. task:patch_tars@172.25.0.5), node-down:IP, registry-down, busy:IP, late-start:IP@MS, no-restart:IP, lost-launch:IP[#N], patch-not-ready:IP#N, crash:SERVER@IP, dies-later:SERVER@IP (SERVER or IP may be *) or late:ENDPOINT#N@MS (e.g. late:update_config_file#1@3000)"
)]
pub struct FaultRuleError {
    pub rule: String,
    pub reason: &'static str,
}

impl FromStr for FaultRule {
    type Err = FaultRuleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| FaultRuleError {
            rule: text.to_string(),
            reason,
        };
        if text == "registry-down" {
            return Ok(FaultRule::RegistryDown);
        }
        let (kind, rest) = text
            .split_once(':')
            .ok_or_else(|| fail("missing `:` after the rule kind"))?;
        match kind {
            "api" => {
                let (endpoint, nth) = rest
                    .split_once('#')
                    .ok_or_else(|| fail("missing `#N` after the endpoint"))?;
                let nth: u32 = nth.parse().map_err(|_| fail("N must be a positive integer"))?;
                if nth == 0 || endpoint.is_empty() {
                    return Err(fail("the endpoint must be named and N counts from 1"));
                }
                Ok(FaultRule::ApiCall {
                    endpoint: endpoint.to_string(),
                    nth,
                })
            }
            "task" => {
                let (command, ip) = rest
                    .split_once('@')
                    .ok_or_else(|| fail("missing `@IP` after the command"))?;
                if command.is_empty() || ip.is_empty() {
                    return Err(fail("both COMMAND and IP must be given"));
                }
                Ok(FaultRule::Task {
                    command: command.to_string(),
                    ip: ip.to_string(),
                })
            }
            "late" => {
                let (call, delay) = rest
                    .split_once('@')
                    .ok_or_else(|| fail("missing `@MS` (the delay of the answer)"))?;
                let (endpoint, nth) = call
                    .split_once('#')
                    .ok_or_else(|| fail("missing `#N` after the endpoint"))?;
                let nth: u32 = nth.parse().map_err(|_| fail("N must be a positive integer"))?;
                let delay_ms: u64 = delay
                    .parse()
                    .map_err(|_| fail("MS must be a whole number of milliseconds"))?;
                if nth == 0 || endpoint.is_empty() {
                    return Err(fail("the endpoint must be named and N counts from 1"));
                }
                Ok(FaultRule::Late {
                    endpoint: endpoint.to_string(),
                    nth,
                    delay_ms,
                })
            }
            "busy" if !rest.is_empty() => Ok(FaultRule::Busy { ip: rest.to_string() }),
            "no-restart" if !rest.is_empty() => Ok(FaultRule::NoRestart { ip: rest.to_string() }),
            "lost-launch" if !rest.is_empty() => {
                let (rest, give_up_ms) = match rest.split_once('@') {
                    Some((rest, ms)) => (
                        rest,
                        Some(
                            ms.parse()
                                .map_err(|_| fail("MS must be a whole number of milliseconds"))?,
                        ),
                    ),
                    None => (rest, None),
                };
                let (ip, count) = match rest.split_once('#') {
                    Some((ip, n)) => (
                        ip,
                        n.parse()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| fail("N must be a positive integer"))?,
                    ),
                    None => (rest, 1),
                };
                Ok(FaultRule::LostLaunch {
                    ip: ip.to_string(),
                    count,
                    give_up_ms,
                })
            }
            "late-start" => {
                let (ip, delay) = rest
                    .split_once('@')
                    .ok_or_else(|| fail("missing `@MS` (when tarsnode starts the node)"))?;
                let delay_ms: u64 = delay
                    .parse()
                    .map_err(|_| fail("MS must be a whole number of milliseconds"))?;
                if ip.is_empty() {
                    return Err(fail("the IP must be named"));
                }
                Ok(FaultRule::LateStart {
                    ip: ip.to_string(),
                    delay_ms,
                })
            }
            "patch-not-ready" => {
                let (ip, count) = rest
                    .split_once('#')
                    .ok_or_else(|| fail("missing `#N` after the IP"))?;
                let count: u32 = count.parse().map_err(|_| fail("N must be a positive integer"))?;
                if ip.is_empty() || count == 0 {
                    return Err(fail("the IP must be named and N counts from 1"));
                }
                Ok(FaultRule::PatchNotReady {
                    ip: ip.to_string(),
                    count,
                })
            }
            "crash" | "dies-later" => {
                let (server, ip) = rest
                    .split_once('@')
                    .ok_or_else(|| fail("missing `@IP` after the server"))?;
                if server.is_empty() || ip.is_empty() {
                    return Err(fail("both SERVER and IP must be given (* for any)"));
                }
                let (server, ip) = (server.to_string(), ip.to_string());
                Ok(if kind == "crash" {
                    FaultRule::Crash { server, ip }
                } else {
                    FaultRule::DiesLater { server, ip }
                })
            }
            "node-down" if !rest.is_empty() => Ok(FaultRule::NodeDown { ip: rest.to_string() }),
            "node-down" => Err(fail("the IP is missing")),
            _ => Err(fail("unknown rule kind")),
        }
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultRule::ApiCall { endpoint, nth } => write!(f, "api:{endpoint}#{nth}"),
            FaultRule::Task { command, ip } => write!(f, "task:{command}@{ip}"),
            FaultRule::NodeDown { ip } => write!(f, "node-down:{ip}"),
            FaultRule::Late {
                endpoint,
                nth,
                delay_ms,
            } => write!(f, "late:{endpoint}#{nth}@{delay_ms}"),
            FaultRule::Crash { server, ip } => write!(f, "crash:{server}@{ip}"),
            FaultRule::RegistryDown => f.write_str("registry-down"),
            FaultRule::Busy { ip } => write!(f, "busy:{ip}"),
            FaultRule::PatchNotReady { ip, count } => write!(f, "patch-not-ready:{ip}#{count}"),
            FaultRule::DiesLater { server, ip } => write!(f, "dies-later:{server}@{ip}"),
            FaultRule::LateStart { ip, delay_ms } => write!(f, "late-start:{ip}@{delay_ms}"),
            FaultRule::NoRestart { ip } => write!(f, "no-restart:{ip}"),
            FaultRule::LostLaunch {
                ip,
                count,
                give_up_ms,
            } => {
                write!(f, "lost-launch:{ip}")?;
                if *count != 1 {
                    write!(f, "#{count}")?;
                }
                match give_up_ms {
                    Some(ms) => write!(f, "@{ms}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The active rules and how often each endpoint has been called.
#[derive(Debug, Default)]
pub struct Faults {
    pub rules: Vec<FaultRule>,
    calls: BTreeMap<String, u32>,
    /// Patches refused per node by `patch-not-ready` rules so far.
    refused_patches: BTreeMap<String, u32>,
    /// Per server row: the number of its latest launch (a late start fires only for it).
    launches: BTreeMap<u64, u64>,
    /// Per server row: the launches a `lost-launch` rule already lost.
    lost_launches: BTreeMap<u64, u32>,
}

impl Faults {
    pub fn new(rules: Vec<FaultRule>) -> Self {
        Faults {
            rules,
            calls: BTreeMap::new(),
            refused_patches: BTreeMap::new(),
            launches: BTreeMap::new(),
            lost_launches: Default::default(),
        }
    }

    /// True for the first `count` launches of server row `row` on `node` when a
    /// `lost-launch` rule names the node (later launches of the row run).
    pub fn lose_launch(&mut self, row: u64, node: &str) -> bool {
        let Some(count) = self.rules.iter().find_map(|rule| match rule {
            FaultRule::LostLaunch { ip, count, .. } if ip == node => Some(*count),
            _ => None,
        }) else {
            return false;
        };
        let lost = self.lost_launches.entry(row).or_default();
        *lost < count && {
            *lost += 1;
            true
        }
    }

    /// How long tarsnode shows a lost launch on `node` `activating` before `inactive`.
    pub fn lost_launch_gives_up(&self, node: &str) -> Option<std::time::Duration> {
        self.rules.iter().find_map(|rule| match rule {
            FaultRule::LostLaunch {
                ip,
                give_up_ms: Some(ms),
                ..
            } if ip == node => Some(std::time::Duration::from_millis(*ms)),
            _ => None,
        })
    }

    /// How long after a launch on `node` tarsnode starts the server, when a
    /// `late-start` rule names it.
    pub fn late_start(&self, node: &str) -> Option<std::time::Duration> {
        self.rules.iter().find_map(|rule| match rule {
            FaultRule::LateStart { ip, delay_ms } if ip == node => {
                Some(std::time::Duration::from_millis(*delay_ms))
            }
            _ => None,
        })
    }

    /// Counts a launch of server row `row`; the number identifies it.
    pub fn launch(&mut self, row: u64) -> u64 {
        let count = self.launches.entry(row).or_insert(0);
        *count += 1;
        *count
    }

    /// Whether `launch` is still the latest launch of `row`.
    pub fn is_latest_launch(&self, row: u64, launch: u64) -> bool {
        self.launches.get(&row) == Some(&launch)
    }

    /// Counts a call of `endpoint`; true when a rule makes exactly this call fail.
    pub fn record_call(&mut self, endpoint: &str) -> bool {
        let count = self.calls.entry(endpoint.to_string()).or_insert(0);
        *count += 1;
        let count = *count;
        self.rules.iter().any(
            |rule| matches!(rule, FaultRule::ApiCall { endpoint: e, nth } if e == endpoint && *nth == count),
        )
    }

    /// How long to hold the answer of the call of `endpoint` just counted (it has
    /// already taken effect), when a `late:` rule names it.
    pub fn late_answer(&self, endpoint: &str) -> Option<std::time::Duration> {
        let count = self.call_count(endpoint);
        self.rules.iter().find_map(|rule| match rule {
            FaultRule::Late {
                endpoint: e,
                nth,
                delay_ms,
            } if e == endpoint && *nth == count => Some(std::time::Duration::from_millis(*delay_ms)),
            _ => None,
        })
    }

    pub fn call_count(&self, endpoint: &str) -> u32 {
        self.calls.get(endpoint).copied().unwrap_or(0)
    }

    /// tarsnode `node` answers AdminRegistry too late.
    pub fn busy(&self, node: &str) -> bool {
        self.rules
            .iter()
            .any(|rule| matches!(rule, FaultRule::Busy { ip } if ip == node))
    }

    /// Patches on `node` land, but their restart does not happen.
    pub fn no_restart(&self, node: &str) -> bool {
        self.rules
            .iter()
            .any(|rule| matches!(rule, FaultRule::NoRestart { ip } if ip == node))
    }

    /// Counts a patch on `node`; true while a `patch-not-ready` rule still refuses it.
    pub fn refuse_patch(&mut self, node: &str) -> bool {
        let limit = self
            .rules
            .iter()
            .filter_map(|rule| match rule {
                FaultRule::PatchNotReady { ip, count } if ip == node => Some(*count),
                _ => None,
            })
            .max();
        let Some(limit) = limit else { return false };
        let refused = self.refused_patches.entry(node.to_string()).or_insert(0);
        if *refused >= limit {
            return false;
        }
        *refused += 1;
        true
    }

    pub fn registry_down(&self) -> bool {
        self.rules.contains(&FaultRule::RegistryDown)
    }

    /// The binary of `server` on `node` exits at once.
    pub fn crashes(&self, server: &str, node: &str) -> bool {
        self.rules.iter().any(
            |rule| matches!(rule, FaultRule::Crash { server: s, ip } if matches_any(s, server) && matches_any(ip, node)),
        )
    }

    /// The binary of `server` on `node` exits a while after it came up.
    pub fn dies_later(&self, server: &str, node: &str) -> bool {
        self.rules.iter().any(
            |rule| matches!(rule, FaultRule::DiesLater { server: s, ip } if matches_any(s, server) && matches_any(ip, node)),
        )
    }

    pub fn task_fails(&self, command: &str, node: &str) -> bool {
        self.rules
            .iter()
            .any(|rule| matches!(rule, FaultRule::Task { command: c, ip } if c == command && ip == node))
    }
}

/// `*` matches anything; otherwise the names must be equal.
fn matches_any(pattern: &str, name: &str) -> bool {
    pattern == "*" || pattern == name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_launch_is_only_the_first_of_each_row_on_its_node() {
        let mut faults = Faults::new(vec!["lost-launch:10.0.0.1".parse().unwrap()]);
        assert!(faults.lose_launch(7, "10.0.0.1"));
        assert!(!faults.lose_launch(7, "10.0.0.1"), "the relaunch runs");
        assert!(faults.lose_launch(8, "10.0.0.1"));
        assert!(!faults.lose_launch(9, "10.0.0.2"));
        let mut faults = Faults::new(vec!["lost-launch:10.0.0.1#2".parse().unwrap()]);
        assert!(faults.lose_launch(7, "10.0.0.1"));
        assert!(faults.lose_launch(7, "10.0.0.1"), "the second launch is lost too");
        assert!(!faults.lose_launch(7, "10.0.0.1"), "the third runs");
    }

    #[test]
    fn parses_every_form_and_round_trips() {
        for text in [
            "api:deploy_server#2",
            "task:patch_tars@172.25.0.5",
            "node-down:172.25.0.5",
            "late:update_config_file#2@1500",
            "crash:agencyABcosRpcService@172.25.0.5",
            "dies-later:*@*",
            "registry-down",
            "busy:127.0.0.1",
            "patch-not-ready:127.0.0.1#2",
            "late-start:127.0.0.1@2000",
            "no-restart:127.0.0.1",
            "lost-launch:127.0.0.1",
            "lost-launch:127.0.0.1#3",
            "lost-launch:127.0.0.1#2@3000",
            "lost-launch:127.0.0.1@500",
        ] {
            let rule: FaultRule = text.parse().unwrap();
            assert_eq!(rule.to_string(), text);
        }
    }

    #[test]
    fn rejects_malformed_rules_with_the_accepted_forms() {
        for text in [
            "api:deploy_server",
            "api:x#0",
            "task:stop",
            "boom:1",
            "node-down:",
            "late:x#1",
            "late:x#1@soon",
            "crash:agencyA",
            "dies-later:@1.2.3.4",
            "late-start:127.0.0.1",
            "late-start:@5",
        ] {
            let err = text.parse::<FaultRule>().unwrap_err().to_string();
            assert!(err.contains("api:ENDPOINT#N"), "{err}");
        }
    }

    #[test]
    fn crash_rules_match_by_server_and_node_with_wildcards() {
        let faults = Faults::new(vec![
            "crash:agencyABcosRpcService@172.25.0.5".parse().unwrap(),
            "dies-later:*@172.25.0.6".parse().unwrap(),
        ]);
        assert!(faults.crashes("agencyABcosRpcService", "172.25.0.5"));
        assert!(!faults.crashes("agencyABcosRpcService", "172.25.0.6"));
        assert!(faults.dies_later("anything", "172.25.0.6"));
        assert!(!faults.dies_later("anything", "172.25.0.5"));
    }

    #[test]
    fn a_late_start_fires_only_for_the_latest_launch_of_its_row() {
        let mut faults = Faults::new(vec!["late-start:10.0.0.1@250".parse().unwrap()]);
        assert_eq!(
            faults.late_start("10.0.0.1"),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(faults.late_start("10.0.0.2"), None);
        let first = faults.launch(7);
        let other_row = faults.launch(8);
        assert!(faults.is_latest_launch(7, first) && faults.is_latest_launch(8, other_row));
        let second = faults.launch(7);
        assert!(!faults.is_latest_launch(7, first));
        assert!(faults.is_latest_launch(7, second));
    }

    #[test]
    fn patch_not_ready_refuses_only_the_first_patches_of_its_node() {
        let mut faults = Faults::new(vec!["patch-not-ready:10.0.0.1#2".parse().unwrap()]);
        assert!(faults.refuse_patch("10.0.0.1"));
        assert!(!faults.refuse_patch("10.0.0.2"));
        assert!(faults.refuse_patch("10.0.0.1"));
        assert!(!faults.refuse_patch("10.0.0.1"));
    }

    #[test]
    fn api_rule_fails_only_the_nth_call() {
        let mut faults = Faults::new(vec!["api:task#2".parse().unwrap()]);
        assert!(!faults.record_call("task"));
        assert!(faults.record_call("task"));
        assert!(!faults.record_call("task"));
        assert_eq!(faults.call_count("task"), 3);
        assert_eq!(faults.call_count("other"), 0);
    }

    #[test]
    fn late_rule_holds_only_the_nth_answer() {
        let mut faults = Faults::new(vec!["late:deploy_server#2@250".parse().unwrap()]);
        assert!(!faults.record_call("deploy_server"));
        assert_eq!(faults.late_answer("deploy_server"), None);
        assert!(!faults.record_call("deploy_server"), "a late call still succeeds");
        assert_eq!(
            faults.late_answer("deploy_server"),
            Some(std::time::Duration::from_millis(250))
        );
    }
}
