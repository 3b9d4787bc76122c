//! Fault injection rules (`--fail RULE`) and the per-endpoint call counters they use.
//!
//! Owns the rule grammar (`api:ENDPOINT#N`, `task:COMMAND@IP`, `node-down:IP`,
//! `late:ENDPOINT#N@MS`) and the
//! questions the server asks of the active rules. No I/O.

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
}

/// A `--fail` value that matches none of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid fault rule `{rule}`: {reason}\nhint: use api:ENDPOINT#N (e.g. api:deploy_server#1), task:COMMAND@IP (e.g. task:patch_tars@172.25.0.5), node-down:IP or late:ENDPOINT#N@MS (e.g. late:update_config_file#1@3000)"
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
        }
    }
}

/// The active rules and how often each endpoint has been called.
#[derive(Debug, Default)]
pub struct Faults {
    pub rules: Vec<FaultRule>,
    calls: BTreeMap<String, u32>,
}

impl Faults {
    pub fn new(rules: Vec<FaultRule>) -> Self {
        Faults {
            rules,
            calls: BTreeMap::new(),
        }
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

    pub fn task_fails(&self, command: &str, node: &str) -> bool {
        self.rules
            .iter()
            .any(|rule| matches!(rule, FaultRule::Task { command: c, ip } if c == command && ip == node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_round_trips() {
        for text in [
            "api:deploy_server#2",
            "task:patch_tars@172.25.0.5",
            "node-down:172.25.0.5",
            "late:update_config_file#2@1500",
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
        ] {
            let err = text.parse::<FaultRule>().unwrap_err().to_string();
            assert!(err.contains("api:ENDPOINT#N"), "{err}");
        }
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
