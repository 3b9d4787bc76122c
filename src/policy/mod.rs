//! Policy checks on plans: Rego policies (evaluated by `regorus`) read the plan in
//! Terraform's JSON format (`view::json`) as `input`, like conftest reads
//! `terraform show -json`. Every package's `deny` and `violation` rules fail the plan;
//! `warn` rules are reported. A policy written for Terraform plans works unchanged.
//!
//! Pure: policies arrive as text with a name; the CLI reads the files.

use regorus::Engine;
use serde_json::Value;

/// The rules read in each package, and whether they fail the plan.
const RULES: [(&str, bool); 3] = [("deny", true), ("violation", true), ("warn", false)];

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy {name}: {message}")]
    Parse { name: String, message: String },
    #[error("no Rego policy was given\nhint: put *.rego files in the --policy directory")]
    Empty,
    #[error("evaluating {query}: {message}")]
    Eval { query: String, message: String },
}

/// One message of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `data.tarsform.no_ca_change.deny`.
    pub rule: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub denied: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.denied.is_empty()
    }
}

/// Loaded policies, ready to evaluate plans.
pub struct Policies {
    engine: Engine,
    packages: Vec<String>,
}

impl Policies {
    /// `sources` are (file name, Rego text). Rego v1 first; a file that only parses
    /// as v0 (`deny[msg] { … }`, conftest's older style) is read as v0.
    pub fn load(sources: &[(String, String)]) -> Result<Policies, PolicyError> {
        if sources.is_empty() {
            return Err(PolicyError::Empty);
        }
        let mut engine = Engine::new();
        for (name, text) in sources {
            engine.set_rego_v0(false);
            if let Err(v1) = engine.add_policy(name.clone(), text.clone()) {
                engine.set_rego_v0(true);
                engine
                    .add_policy(name.clone(), text.clone())
                    .map_err(|_| PolicyError::Parse {
                        name: name.clone(),
                        message: v1.to_string(),
                    })?;
            }
        }
        let mut packages = engine.get_packages().map_err(|e| PolicyError::Eval {
            query: "packages".into(),
            message: e.to_string(),
        })?;
        packages.sort();
        packages.dedup();
        Ok(Policies { engine, packages })
    }

    /// Evaluates every package's rules against `plan_json` (a plan in JSON).
    pub fn evaluate(&mut self, plan_json: &str) -> Result<Verdict, PolicyError> {
        self.engine
            .set_input_json(plan_json)
            .map_err(|e| PolicyError::Eval {
                query: "input".into(),
                message: e.to_string(),
            })?;
        let mut verdict = Verdict::default();
        for package in self.packages.clone() {
            for (rule, fails) in RULES {
                let query = format!("{package}.{rule}");
                let results =
                    self.engine
                        .eval_query(query.clone(), false)
                        .map_err(|e| PolicyError::Eval {
                            query: query.clone(),
                            message: e.to_string(),
                        })?;
                for result in results.result {
                    for expression in result.expressions {
                        let value = serde_json::to_value(&expression.value).unwrap_or(Value::Null);
                        for message in messages(&value) {
                            let finding = Finding {
                                rule: query.clone(),
                                message,
                            };
                            if fails {
                                verdict.denied.push(finding);
                            } else {
                                verdict.warnings.push(finding);
                            }
                        }
                    }
                }
            }
        }
        Ok(verdict)
    }
}

/// The messages of a rule's value: a set of strings, of `{"msg": …}` objects, or
/// `true` for a boolean rule.
fn messages(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().flat_map(messages).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Object(o) => match o.get("msg") {
            Some(Value::String(s)) => vec![s.clone()],
            _ => vec![value.to_string()],
        },
        Value::Bool(true) => vec!["denied".into()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies(text: &str) -> Policies {
        Policies::load(&[("p.rego".into(), text.into())]).unwrap()
    }

    const PLAN: &str = r#"{"resource_changes":[{"address":"a","change":{"actions":["delete"]}},{"address":"b","change":{"actions":["create"]}}]}"#;

    #[test]
    fn a_v1_deny_rule_fails_the_plan_with_its_messages() {
        let mut p = policies(
            "package t\nimport rego.v1\ndeny contains msg if {\n some rc in input.resource_changes\n \"delete\" in rc.change.actions\n msg := sprintf(\"%s is deleted\", [rc.address])\n}\nwarn contains \"careful\" if { true }\n",
        );
        let v = p.evaluate(PLAN).unwrap();
        assert!(!v.passed());
        assert_eq!(
            v.denied,
            vec![Finding {
                rule: "data.t.deny".into(),
                message: "a is deleted".into()
            }]
        );
        assert_eq!(v.warnings.len(), 1);
        let v = p.evaluate(r#"{"resource_changes":[]}"#).unwrap();
        assert!(v.passed(), "{v:?}");
    }

    #[test]
    fn a_v0_conftest_policy_is_read_as_v0() {
        let mut p = policies(
            "package main\ndeny[msg] {\n rc := input.resource_changes[_]\n rc.change.actions[_] == \"delete\"\n msg := sprintf(\"%v: no deletes\", [rc.address])\n}\n",
        );
        let v = p.evaluate(PLAN).unwrap();
        assert_eq!(v.denied.len(), 1, "{v:?}");
        assert_eq!(v.denied[0].message, "a: no deletes");
    }

    #[test]
    fn a_broken_policy_is_an_error_naming_the_file() {
        let err = Policies::load(&[("bad.rego".into(), "package x\ndeny contains if {".into())])
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("policy bad.rego:"), "{err}");
        assert!(matches!(Policies::load(&[]), Err(PolicyError::Empty)));
    }
}
