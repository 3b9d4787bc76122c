//! Tars tasks: the `add_task` request, the `task` response, and their states.
//!
//! Two status numberings exist (tarsweb-api.md §7): frameworks from v3.0.4 on insert
//! PREPARE at 1; older ones (fw v3.0.1, the BcosBuilder image) do not. An item's
//! `status_info` names its state (`EM_I_SUCCESS`, …) and decides; without it the new
//! numbering is assumed. A task's own status has no name, so it is read with the
//! numbering its items revealed (or the new one when they reveal nothing).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::de;

/// The commands tarsform sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskCommand {
    Start,
    Stop,
    Restart,
    PatchTars,
    UndeployTars,
}

impl TaskCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskCommand::Start => "start",
            TaskCommand::Stop => "stop",
            TaskCommand::Restart => "restart",
            TaskCommand::PatchTars => "patch_tars",
            TaskCommand::UndeployTars => "undeploy_tars",
        }
    }
}

impl fmt::Display for TaskCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Body of `POST api/add_task`. `serial` is a real boolean: the string `"true"` that
/// BcosBuilder sends encodes as false in TarsWeb.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRequest {
    pub serial: bool,
    pub items: Vec<TaskItemRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskItemRequest {
    pub server_id: u64,
    pub command: String,
    pub parameters: BTreeMap<String, String>,
}

impl TaskRequest {
    /// One command on one node (`server_id` is the node's `t_server_conf` id).
    pub fn single(server_id: u64, command: TaskCommand, parameters: BTreeMap<String, String>) -> Self {
        TaskRequest {
            serial: true,
            items: vec![TaskItemRequest {
                server_id,
                command: command.as_str().to_string(),
                parameters,
            }],
        }
    }

    /// Publish `patch_id` to one node; without `bak_flag` the node restarts on it.
    pub fn patch(server_id: u64, patch_id: u64) -> Self {
        let parameters = [
            ("patch_id", patch_id.to_string()),
            ("bak_flag", "false".to_string()),
            ("update_text", String::new()),
            ("group_name", String::new()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        TaskRequest::single(server_id, TaskCommand::PatchTars, parameters)
    }

    /// The commands of this request, joined for messages.
    pub fn command_summary(&self) -> String {
        let mut commands: Vec<&str> = self.items.iter().map(|i| i.command.as_str()).collect();
        commands.dedup();
        commands.join(",")
    }
}

/// Whether an item's `execute_info` is a framework error that passes while Tars starts
/// or is busy: tarspatch not yet known to AdminRegistry (`errno:-7`), AdminRegistry's
/// call to a busy tarsnode timing out (`iRet:1002`, `-7`, "timeout"), or the stop step's
/// text that a timed-out start leaves behind ("server state is Inactive").
pub fn is_transient_failure(execute_info: &str) -> bool {
    let text = execute_info.to_ascii_lowercase();
    [
        "errno:-7",
        "iret:1002",
        "iret:-7",
        "timeout",
        "server state is inactive",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// A task or item state, independent of the numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    NotStart,
    Prepare,
    Running,
    Success,
    Failed,
    Cancel,
    Partial,
    /// A number outside both numberings.
    Unknown,
}

impl TaskState {
    /// No further change will happen.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failed | TaskState::Cancel | TaskState::Partial
        )
    }

    /// Reads a state name such as `EM_I_SUCCESS`, `SUCCESS` or `EM_T_PARIAL`.
    pub fn from_name(name: &str) -> Option<TaskState> {
        let upper = name.trim().to_ascii_uppercase();
        let table = [
            ("NOT_START", TaskState::NotStart),
            ("PREPARE", TaskState::Prepare),
            ("RUNNING", TaskState::Running),
            ("PAUSE_FLOW", TaskState::Running),
            ("SUCCESS", TaskState::Success),
            ("FAILED", TaskState::Failed),
            ("CANCEL", TaskState::Cancel),
            ("PARIAL", TaskState::Partial),
            ("PARTIAL", TaskState::Partial),
        ];
        table
            .into_iter()
            .find(|(suffix, _)| upper.ends_with(suffix))
            .map(|(_, state)| state)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            TaskState::NotStart => "not started",
            TaskState::Prepare => "preparing",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::Cancel => "cancelled",
            TaskState::Partial => "partially done",
            TaskState::Unknown => "in an unknown state",
        };
        f.write_str(text)
    }
}

/// Which status numbering a framework uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    /// fw ≥ v3.0.4: 0 NOT_START, 1 PREPARE, 2 RUNNING, 3 SUCCESS, 4 FAILED, 5 CANCEL, 6 PARIAL/PAUSE_FLOW.
    New,
    /// fw v3.0.1: 0 NOT_START, 1 RUNNING, 2 SUCCESS, 3 FAILED, 4 CANCEL, 5 PARIAL/PAUSE_FLOW.
    Old,
}

impl Numbering {
    /// A task-level status number (6 / 5 mean PARIAL).
    pub fn task_state(self, status: i64) -> TaskState {
        let state = self.item_state(status);
        if state == TaskState::Running && self.pause_or_partial(status) {
            TaskState::Partial
        } else {
            state
        }
    }

    /// An item-level status number (6 / 5 mean PAUSE_FLOW, counted as running).
    pub fn item_state(self, status: i64) -> TaskState {
        let table: &[TaskState] = match self {
            Numbering::New => &[
                TaskState::NotStart,
                TaskState::Prepare,
                TaskState::Running,
                TaskState::Success,
                TaskState::Failed,
                TaskState::Cancel,
                TaskState::Running,
            ],
            Numbering::Old => &[
                TaskState::NotStart,
                TaskState::Running,
                TaskState::Success,
                TaskState::Failed,
                TaskState::Cancel,
                TaskState::Running,
            ],
        };
        usize::try_from(status)
            .ok()
            .and_then(|i| table.get(i).copied())
            .unwrap_or(TaskState::Unknown)
    }

    fn pause_or_partial(self, status: i64) -> bool {
        match self {
            Numbering::New => status == 6,
            Numbering::Old => status == 5,
        }
    }
}

/// Response of `GET api/task`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Task {
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub task_no: String,
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub serial: bool,
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub status: i64,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub create_time: String,
    #[serde(default, alias = "userName", deserialize_with = "de::string_lenient")]
    pub user_name: String,
    #[serde(default)]
    pub items: Vec<TaskItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TaskItem {
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub task_no: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub item_no: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub application: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub server_name: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub node_name: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub command: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub start_time: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub end_time: String,
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub status: i64,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub status_info: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub execute_info: String,
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub percent: i64,
}

impl TaskItem {
    /// This item's state: its `status_info` name when present, else `status` read
    /// with `numbering`.
    pub fn state(&self, numbering: Numbering) -> TaskState {
        TaskState::from_name(&self.status_info).unwrap_or_else(|| numbering.item_state(self.status))
    }
}

impl Task {
    /// Old when some item's `status_info` names a state that its number has only
    /// in the old numbering; new otherwise.
    pub fn numbering(&self) -> Numbering {
        let reveals_old = self.items.iter().any(|item| {
            TaskState::from_name(&item.status_info).is_some_and(|named| {
                Numbering::New.item_state(item.status) != named
                    && Numbering::Old.item_state(item.status) == named
            })
        });
        if reveals_old {
            Numbering::Old
        } else {
            Numbering::New
        }
    }

    /// Every item's state, read with [`Task::numbering`].
    pub fn item_states(&self) -> Vec<TaskState> {
        let numbering = self.numbering();
        self.items.iter().map(|i| i.state(numbering)).collect()
    }

    /// The task's state: derived from the items (as tarsAdminRegistry does) when
    /// there are any, else from `status`.
    pub fn state(&self) -> TaskState {
        let states = self.item_states();
        match states.split_first() {
            None => self.numbering().task_state(self.status),
            Some((first, rest)) if rest.iter().all(|s| s == first) => *first,
            Some(_) if states.iter().all(|s| s.is_terminal()) => TaskState::Partial,
            Some(_) => TaskState::Running,
        }
    }

    /// True when every item (or the task, without items) reached a final state.
    pub fn is_finished(&self) -> bool {
        if self.items.is_empty() {
            self.state().is_terminal()
        } else {
            self.item_states().iter().all(|s| s.is_terminal())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: i64, info: &str) -> TaskItem {
        serde_json::from_value(serde_json::json!({
            "status": status, "status_info": info, "node_name": "172.25.0.5", "command": "patch_tars"
        }))
        .unwrap()
    }

    fn task(status: i64, items: Vec<TaskItem>) -> Task {
        Task {
            task_no: "t".into(),
            serial: true,
            status,
            create_time: String::new(),
            user_name: String::new(),
            items,
        }
    }

    #[test]
    fn names_decide_the_numbering() {
        // Old framework: 2 = SUCCESS; new framework: 2 = RUNNING.
        let old = task(2, vec![item(2, "EM_I_SUCCESS")]);
        assert_eq!(old.numbering(), Numbering::Old);
        assert_eq!(old.state(), TaskState::Success);
        let new = task(2, vec![item(2, "EM_I_RUNNING")]);
        assert_eq!(new.numbering(), Numbering::New);
        assert_eq!(new.state(), TaskState::Running);
        assert!(!new.is_finished());
    }

    #[test]
    fn without_names_the_new_numbering_is_assumed() {
        let t = task(3, vec![item(3, "")]);
        assert_eq!(t.state(), TaskState::Success);
        let t = task(1, vec![item(1, "")]);
        assert_eq!(t.state(), TaskState::Prepare);
        assert_eq!(task(6, vec![]).state(), TaskState::Partial);
        assert_eq!(task(4, vec![]).state(), TaskState::Failed);
    }

    #[test]
    fn old_numbering_reads_task_status_too() {
        let t = task(3, vec![item(3, "EM_I_FAILED")]);
        assert_eq!(t.numbering(), Numbering::Old);
        assert_eq!(Numbering::Old.task_state(5), TaskState::Partial);
        assert_eq!(Numbering::Old.item_state(5), TaskState::Running);
        assert_eq!(t.state(), TaskState::Failed);
    }

    #[test]
    fn mixed_terminal_items_are_partial() {
        let t = task(6, vec![item(3, "EM_I_SUCCESS"), item(5, "EM_I_CANCEL")]);
        assert_eq!(t.state(), TaskState::Partial);
        assert!(t.is_finished());
        assert_eq!(Numbering::New.item_state(99), TaskState::Unknown);
    }

    #[test]
    fn transient_failures_are_the_ones_the_real_tars_showed() {
        for text in [
            "tarspatch preparePatchFile error: ServantProxy::invoke errno:-7",
            "getPatchPercent 127.0.0.1 error, iRet:1002",
            "succ:server state is Inactive.",
        ] {
            assert!(is_transient_failure(text), "{text}");
        }
        for text in ["patch 12 of chain0.x not found", "command not support!", ""] {
            assert!(!is_transient_failure(text), "{text}");
        }
    }

    #[test]
    fn patch_request_matches_tarsweb_expectations() {
        let req = TaskRequest::patch(12, 34);
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(json["serial"], serde_json::json!(true));
        let item = &json["items"][0];
        assert_eq!(item["server_id"], 12);
        assert_eq!(item["command"], "patch_tars");
        assert_eq!(item["parameters"]["patch_id"], "34");
        assert_eq!(item["parameters"]["bak_flag"], "false");
        assert_eq!(req.command_summary(), "patch_tars");
    }
}
