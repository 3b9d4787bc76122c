//! The TarsWeb emulator over raw HTTP: BcosBuilder's deploy sequence replayed call by
//! call, the seed's expand responses byte for byte, error kinds, locale, faults,
//! latency, tasks on down nodes, undeploy side effects, persistence.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::{Value, json};
use tarsform::emulator::{self, ConfigView, EmulatorConfig, EmulatorHandle, FaultRule, RunningEmulator};

const T: &str = "eyJhbGciOiJIUzI1NiJ9.test-token";
const APP: &str = "chain0";
const RPC: &str = "agencyABcosRpcService";
const OLD: &str = "172.25.0.3";
const NEW: &str = "172.25.0.5";

struct Api {
    base: String,
    http: reqwest::Client,
    emulator: RunningEmulator,
}

impl Api {
    async fn start(config: EmulatorConfig) -> Api {
        let emulator = emulator::start(config).await.expect("emulator starts");
        Api {
            base: emulator.base_url(),
            http: reqwest::Client::new(),
            emulator,
        }
    }

    async fn default() -> Api {
        Api::start(EmulatorConfig {
            token: Some(T.into()),
            nodes: vec![OLD.into(), NEW.into()],
            task_duration: Duration::from_millis(40),
            ..Default::default()
        })
        .await
    }

    fn handle(&self) -> EmulatorHandle {
        self.emulator.handle()
    }

    /// GET `path_and_query` (relative to the base URL): status and raw body.
    async fn get_raw(&self, path_and_query: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn get(&self, path_and_query: &str) -> Value {
        let (status, body) = self.get_raw(path_and_query).await;
        assert_eq!(status, 200, "{path_and_query}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn post_raw(&self, path_and_query: &str, body: &Value) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}{path_and_query}", self.base))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn post(&self, path_and_query: &str, body: Value) -> Value {
        let (status, text) = self.post_raw(path_and_query, &body).await;
        assert_eq!(status, 200, "{path_and_query}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Polls `task` until every item is terminal (a task status alone can read PARIAL
    /// while items are still running).
    async fn wait_task(&self, task_no: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let task = self.get(&format!("api/task?task_no={task_no}&ticket={T}")).await;
            let items = task["data"]["items"].as_array().unwrap();
            if items.iter().all(|i| matches!(i["status"].as_u64(), Some(3..=5))) {
                return task["data"].clone();
            }
            assert!(Instant::now() < deadline, "task {task_no} still running: {task}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn add_task(&self, server_id: &Value, command: &str) -> String {
        let body =
            json!({"serial":"true","items":[{"server_id":server_id,"command":command,"parameters":{}}]});
        let reply = self.post(&format!("api/add_task?ticket={T}"), body).await;
        assert_eq!(reply["err_msg"], "", "{reply}");
        reply["data"].as_str().unwrap().to_string()
    }

    async fn server_id(&self, server: &str, node: &str) -> Value {
        let list = self
            .get(&format!(
                "api/server_list?tree_node_id=1{APP}.5{server}&ticket={T}"
            ))
            .await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["node_name"] == node)
            .unwrap_or_else(|| panic!("{server} on {node} not in {list}"))["id"]
            .clone()
    }

    /// BcosBuilder's `deploy_server` body for one rpc node.
    async fn deploy(&self, server: &str, node: &str) -> Value {
        let port = self
            .get(&format!("api/auto_port?node_name={node}&ticket={T}"))
            .await["data"][0]["port"]
            .clone();
        let body = json!({"application":APP,"server_name":server,"node_name":node,"server_type":"tars_cpp",
            "template_name":"tars.cpp.default","adapters":[{"obj_name":"RpcServiceObj","port":port,"bind_ip":node,
            "port_type":"tcp","thread_num":8,"max_connections":100000,"queuecap":50000,"queuetimeout":20000}]});
        let reply = self.post(&format!("api/deploy_server?ticket={T}"), body).await;
        assert_eq!(reply["err_msg"], "", "{reply}");
        reply
    }
}

fn rows(reply: &Value) -> &Vec<Value> {
    reply["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {reply}"))
}

fn find<'a>(list: &'a Value, filename: &str, node: Option<&str>) -> Option<&'a Value> {
    rows(list)
        .iter()
        .find(|r| r["filename"] == filename && node.is_none_or(|n| r["node_name"] == n))
}

/// bcosbuilder.md §2.2 steps 1–9 for one rpc node, with BcosBuilder's exact requests.
#[tokio::test]
async fn bcosbuilder_deploy_sequence_for_one_rpc_node_replays() {
    let api = Api::default().await;
    let (a, s, n) = (APP, RPC, OLD);
    // 1-2: the application does not exist yet → add_application (form body).
    let apps = api
        .get(&format!("api/server_list?tree_node_id=1{a}&ticket={T}"))
        .await;
    assert_eq!(apps["data"], json!([]));
    let added = api
        .http
        .post(format!("{}api/add_application?ticket={T}", api.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("f_name={a}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(added.contains(r#""f_name":"chain0""#), "{added}");
    // 3: server_exists (ignored).
    api.get(&format!("api/server_list?tree_node_id=1{a}.5{s}&ticket={T}"))
        .await;
    // 4: auto_port.
    let port = api.get(&format!("api/auto_port?node_name={n}&ticket={T}")).await["data"][0]["port"]
        .as_u64()
        .unwrap();
    assert!((10_000..30_000).contains(&port));
    // 5: deploy_server.
    let deploy = json!({"application":a,"server_name":s,"node_name":n,"server_type":"tars_cpp",
        "template_name":"tars.cpp.default","adapters":[{"obj_name":"RpcServiceObj","port":port,"bind_ip":n,
        "port_type":"tcp","thread_num":8,"max_connections":100000,"queuecap":50000,"queuetimeout":20000}]});
    let deployed = api.post(&format!("api/deploy_server?ticket={T}"), deploy).await;
    assert_eq!(deployed["err_msg"], "");
    assert_eq!(deployed["data"]["server_conf"][0]["setting_state"], "inactive");
    assert_eq!(deployed["data"]["tars_node_rst"], json!([]));
    // 6: config files, BcosBuilder's add-if-missing then update dance.
    let files = [
        ("config.ini", "[rpc]\nlisten_port = 20200\n"),
        (
            "ca.crt",
            "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
        ),
        (
            "ssl.crt",
            "-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n",
        ),
        (
            "ssl.key",
            "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n",
        ),
    ];
    let list_q = format!(
        "api/config_file_list?ticket={T}&level=5&application={a}&server_name={s}&set_name=&set_area=&set_group="
    );
    let add_q = format!("api/add_config_file?ticket={T}");
    for (file, content) in files {
        let list = api.get(&list_q).await;
        if find(&list, file, None).is_none() {
            let body = json!({"level":5,"application":a,"node_name":"","server_name":s,"filename":file,"config":"\n"});
            api.post(&add_q, body).await;
        }
        let server_cfg = api.get(&list_q).await;
        let server_id = find(&server_cfg, file, None).expect("server-level row")["id"].clone();
        let node_q = format!(
            "api/node_config_file_list?ticket={T}&config_id={server_id}&level=5&application={a}&server_name={s}&set_name=&set_area=&set_group="
        );
        let nodes = api.get(&node_q).await;
        if find(&nodes, file, Some(n)).is_none() {
            let body = json!({"level":5,"application":a,"node_name":n,"server_name":s,"filename":file,"config":"\n"});
            let dup = api.post(&add_q, body).await;
            assert_eq!(dup["err_msg"], "同名文件已经存在", "node_name is ignored: {dup}");
        }
        api.get(&list_q).await;
        let nodes = api.get(&node_q).await;
        let node_id = find(&nodes, file, Some(n)).expect("node-level row")["id"].clone();
        let body = json!({"id":node_id,"config":content,"reason":"update config file"});
        let updated = api
            .post(&format!("api/update_config_file?ticket={T}"), body)
            .await;
        assert_eq!(updated["err_msg"], "", "{updated}");
        let merged = api
            .get(&format!("api/merged_node_config?id={node_id}&ticket={T}"))
            .await;
        assert_eq!(merged["data"], content, "the empty server-level part is skipped");
        let fetched = api.get(&format!("api/config_file?id={node_id}&ticket={T}")).await;
        assert_eq!(fetched["data"]["config"], content);
    }
    // 7: package upload (multipart, field `suse`) and patch id by task id.
    let package = b"\x1f\x8b fake tgz bytes".to_vec();
    let task_id = uuid::Uuid::new_v4().to_string();
    let part = reqwest::multipart::Part::bytes(package.clone())
        .file_name(format!("{s}.tgz"))
        .headers(reqwest::header::HeaderMap::from_iter([(
            CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("text/plain/binary"),
        )]));
    let form = reqwest::multipart::Form::new()
        .text("application", a)
        .text("task_id", task_id.clone())
        .text("module_name", s)
        .text("comment", "upload package")
        .part("suse", part);
    let upload: Value = api
        .http
        .post(format!("{}api/upload_patch_package?ticket={T}", api.base))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(upload["err_msg"], "", "{upload}");
    let patch = api
        .get(&format!("api/get_server_patch?task_id={task_id}&ticket={T}"))
        .await;
    let patch_id = patch["data"]["id"].as_u64().expect("patch id");
    assert_eq!(patch["data"]["server"], format!("{a}.{s}"));
    // 8-9: server id, then patch_tars (which restarts the server).
    let server_id = api.server_id(s, n).await;
    let body = json!({"serial":"true","items":[{"server_id":server_id,"command":"patch_tars",
        "parameters":{"patch_id":patch_id,"bak_flag":"false","update_text":"","group_name":""}}]});
    let task = api.post(&format!("api/add_task?ticket={T}"), body).await;
    let task_no = task["data"].as_str().unwrap();
    assert_eq!(task_no.len(), 32);
    assert!(
        task_no
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let done = api.wait_task(task_no).await;
    assert_eq!(done["status"], 3, "{done}");
    assert_eq!(done["serial"], false, "the string \"true\" encodes as false");
    assert_eq!(done["items"][0]["status_info"], "EM_I_SUCCESS");

    // The resulting model.
    let view = api.handle().snapshot();
    assert_eq!(view.servers.len(), 1);
    let server = &view.servers[0];
    assert_eq!(
        (server.setting_state.as_str(), server.present_state.as_str()),
        ("active", "active")
    );
    assert_eq!(server.patch_version, patch_id.to_string());
    assert_eq!(server.template_name, "tars.cpp.default");
    let column = format!("{a}.{s}");
    let node_rows: Vec<&ConfigView> = view.configs.iter().filter(|c| c.level == 3).collect();
    assert_eq!(node_rows.len(), 4);
    for (file, content) in files {
        let row = node_rows.iter().find(|c| c.filename == file).unwrap();
        assert_eq!(
            (row.host.as_str(), row.server_name.as_str(), row.content.as_str()),
            (n, column.as_str(), content)
        );
        let placeholder = view
            .configs
            .iter()
            .find(|c| c.level == 2 && c.filename == file)
            .unwrap();
        assert_eq!(
            placeholder.content, "",
            "the \"\\n\" placeholder is stored trimmed"
        );
    }
    assert_eq!(view.adapters.len(), 1);
    assert_eq!(view.adapters[0].servant, format!("{a}.{s}.RpcServiceObj"));
    assert_eq!(view.adapters[0].endpoint, format!("tcp -h {n} -t 60000 -e 0"));
    let row = api.get(&format!("api/server?id={server_id}&ticket={T}")).await;
    assert_eq!(row["data"]["patch_version"], patch_id.to_string());
    let sha = api.handle().patches(a, s);
    assert_eq!(sha.len(), 1);
    assert_eq!(sha[0].0, patch_id);
    assert_eq!(sha[0].1.len(), 64);
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let text = self.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }
}

/// The seed's responses (seed-scaling-rpc-gateway.md), for the old BcosProBuilder requests.
#[tokio::test]
async fn seed_expand_preview_and_expand_responses_are_reproduced() {
    let api = Api::default().await;
    let seeded = api.handle().seed_deployed_server(
        APP,
        RPC,
        "RpcServiceObj",
        OLD,
        &[("config.ini", "[rpc]\n"), ("ca.crt", "CA\n")],
        b"package",
    );
    let preview = json!({"application":APP,"server_name":RPC,"node_name":OLD,"set":"","expand_nodes":[NEW],
        "enable_set":"false","set_name":"","set_area":"","set_group":"","copy_node_config":"false","nodeName":[]});
    let (status, body) = api
        .post_raw(
            &format!("api/expand_server_preview?ticket={T}&__locale=en"),
            &preview,
        )
        .await;
    assert_eq!(status, 200);
    let expected = r#"{"data":[{"application":"chain0","server_name":"agencyABcosRpcService","set":"..","obj_name":"RpcServiceObj","node_name":"172.25.0.5","bind_ip":"172.25.0.5","port":0,"template_name":"tars.cpp.default","status":"未扩容","auth":0}],"ret_code":200,"err_msg":""}"#;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::from_str::<Value>(expected).unwrap()
    );
    assert_eq!(
        body, expected,
        "same bytes, key order data, ret_code, err_msg (__locale is not a validParam)"
    );
    assert!(
        api.handle().snapshot().servers.iter().all(|s| s.node_name == OLD),
        "preview has no side effects"
    );

    let port = api
        .get(&format!("api/auto_port?node_name={NEW}&ticket={T}"))
        .await["data"][0]["port"]
        .clone();
    let expand = json!({"application":APP,"server_name":RPC,"set":"","node_name":OLD,"copy_node_config":"false",
        "expand_preview_servers":[{"bind_ip":NEW,"node_name":NEW,"obj_name":"RpcServiceObj","port":port,"set":""}]});
    let (status, body) = api
        .post_raw(&format!("api/expand_server?ticket={T}"), &expand)
        .await;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            r#"{"data":{"tars_node_rst":[]},"ret_code":200,"err_msg":""}"#
        )
    );

    let row = &api
        .get(&format!("api/server_list?tree_node_id=1{APP}.5{RPC}&ticket={T}"))
        .await["data"];
    let new = rows_of(row)
        .iter()
        .find(|r| r["node_name"] == NEW)
        .unwrap()
        .clone();
    assert_eq!(new["setting_state"], "inactive");
    assert_eq!(new["present_state"], "inactive");
    assert_eq!(
        new["patch_version"],
        seeded.patch_id.to_string(),
        "copied from the source node"
    );
    let view = api.handle().snapshot();
    let copied = view
        .configs
        .iter()
        .filter(|c| c.level == 3 && c.host == NEW)
        .count();
    assert_eq!(copied, 2, "copy_node_config \"false\" is truthy");
    let adapter = view.adapters.iter().find(|a| a.node_name == NEW).unwrap();
    assert_eq!(adapter.endpoint, format!("tcp -h {NEW} -t 20000 -e 0"));
    // A repeated expand is a no-op; an existing node previews as existent.
    api.post_raw(&format!("api/expand_server?ticket={T}"), &expand)
        .await;
    assert_eq!(api.handle().snapshot(), view);
    let again = json!({"application":APP,"server_name":RPC,"node_name":OLD,"expand_nodes":[OLD]});
    let reply = api
        .post(&format!("api/expand_server_preview?ticket={T}"), again)
        .await;
    assert_eq!(reply["data"][0]["status"], "已存在");
    assert_eq!(reply["data"][0]["set"], "");
}

fn rows_of(value: &Value) -> &Vec<Value> {
    value.as_array().unwrap()
}

#[tokio::test]
async fn error_kinds_a_to_f() {
    let api = Api::default().await;
    // A: the first failing checkRule names its parameter.
    let a = api
        .get(&format!("api/config_file_list?ticket={T}&application={APP}"))
        .await;
    assert_eq!(a, json!({"data":{},"ret_code":500,"err_msg":"level必须为数字"}));
    let a = api.get(&format!("api/server_list?ticket={T}")).await;
    assert_eq!(a["err_msg"], "tree_node_id不能为空");
    // B: exact body and key order.
    let (status, b) = api
        .get_raw("api/server_list?tree_node_id=1chain0&ticket=wrong")
        .await;
    assert_eq!(
        (status, b.as_str()),
        (200, r#"{"ret_code":500,"err_msg":"您还没有登录","data":{}}"#)
    );
    let (_, b) = api.get_raw("api/server_list?tree_node_id=1chain0").await;
    assert_eq!(b, r#"{"ret_code":500,"err_msg":"您还没有登录","data":{}}"#);
    // C: a user without roles.
    api.handle().add_user_token("dev-token", "dev");
    let c = api
        .get(&format!(
            "api/config_file_list?ticket=dev-token&level=5&application={APP}&server_name={RPC}"
        ))
        .await;
    assert_eq!(c, json!({"data":{},"ret_code":500,"err_msg":"没有权限"}));
    let hidden = api
        .get("api/server_list?tree_node_id=1chain0&ticket=dev-token")
        .await;
    assert_eq!(hidden["data"], json!([]));
    let c = api
        .get(&format!(
            "api/server_list?tree_node_id=1{APP}.5{RPC}&ticket=dev-token"
        ))
        .await;
    assert_eq!(c["err_msg"], "没有权限");
    // D: unknown ids.
    let d = api.get(&format!("api/server?id=999&ticket={T}")).await;
    assert_eq!(d, json!({"data":{},"ret_code":500,"err_msg":"系统内部错误"}));
    let d = api
        .post(
            &format!("api/add_task?ticket={T}"),
            json!({"items":[{"server_id":999,"command":"stop"}]}),
        )
        .await;
    assert_eq!(d["err_msg"], "系统内部错误");
    // E: duplicate config file, empty task items.
    let add = json!({"level":5,"application":APP,"server_name":RPC,"filename":"config.ini","config":"x"});
    assert_eq!(
        api.post(&format!("api/add_config_file?ticket={T}"), add.clone())
            .await["err_msg"],
        ""
    );
    let e = api.post(&format!("api/add_config_file?ticket={T}"), add).await;
    assert_eq!(e, json!({"data":{},"ret_code":500,"err_msg":"同名文件已经存在"}));
    let e = api
        .post(&format!("api/add_task?ticket={T}"), json!({"items":[]}))
        .await;
    assert_eq!(e["err_msg"], "参数错误");
    // F: exceptions outside the controller: HTTP 500, not JSON.
    let (status, body) = api
        .post_raw(
            &format!("api/deploy_server?ticket={T}"),
            &json!({"application":APP,"server_name":RPC}),
        )
        .await;
    assert_eq!(status, 500);
    assert!(serde_json::from_str::<Value>(&body).is_err());
    let (status, _) = api
        .post_raw(&format!("api/add_task?ticket={T}"), &json!({"serial":true}))
        .await;
    assert_eq!(status, 500);
    let form = reqwest::multipart::Form::new().text("application", APP).part(
        "file",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.tgz"),
    );
    let response = api
        .http
        .post(format!("{}api/upload_patch_package?ticket={T}", api.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        500,
        "only the file field `suse` is accepted"
    );
    // Not-found successes.
    let ok = api.get(&format!("api/config_file?id=12345&ticket={T}")).await;
    assert_eq!(ok, json!({"data":{},"ret_code":200,"err_msg":""}));
    let ok = api
        .get(&format!("api/get_server_patch?task_id=nope&ticket={T}"))
        .await;
    assert_eq!(ok["data"], json!({}));
    // Routing: unknown path 404, wrong method 405.
    assert_eq!(api.get_raw(&format!("api/nope?ticket={T}")).await.0, 404);
    assert_eq!(api.get_raw(&format!("api/deploy_server?ticket={T}")).await.0, 405);
}

#[tokio::test]
async fn english_messages_with_locale_query_or_cookie_and_the_ticket_endpoint() {
    let api = Api::default().await;
    let en = api
        .get(&format!("pages/server/api/server_list?ticket={T}&__locale=en"))
        .await;
    assert_eq!(en["err_msg"], "tree_node_id is required");
    let cookie = api
        .http
        .get(format!("{}api/server?id=1&ticket={T}", api.base))
        .header(COOKIE, "locale=en")
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(cookie["err_msg"], "system error");
    let (_, b) = api
        .get_raw("api/server_list?tree_node_id=1x&ticket=bad&__locale=en")
        .await;
    assert!(b.contains("您还没有登录"), "__locale does not reach kind B: {b}");
    // The ticket check endpoint, under the UI prefix; cookies carry the ticket too.
    let ok = api.get(&format!("pages/server/api/ticket?ticket={T}")).await;
    assert_eq!(ok["data"], json!({"uid":"admin"}));
    let unknown = api.get("pages/server/api/ticket?ticket=nope").await;
    assert_eq!(unknown["data"], json!({"uid":""}));
    let by_cookie = api
        .http
        .get(format!("{}pages/server/api/node_list", api.base))
        .header(COOKIE, format!("ticket={T}"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(by_cookie["data"], json!([OLD, NEW]));
}

#[tokio::test]
async fn node_config_file_list_returns_the_list_from_before_its_inserts() {
    let api = Api::default().await;
    let add = json!({"level":5,"application":APP,"server_name":RPC,"filename":"config.ini","config":"\n"});
    let added = api.post(&format!("api/add_config_file?ticket={T}"), add).await;
    assert_eq!(added["data"]["level"], 2);
    assert_eq!(added["data"]["config"], "");
    let config_id = added["data"]["id"].clone();
    // The node is deployed after the server-level row, so it has no node row yet.
    api.deploy(RPC, OLD).await;
    let q = format!(
        "api/node_config_file_list?ticket={T}&config_id={config_id}&application={APP}&server_name={RPC}&set_name=&set_area=&set_group="
    );
    let first = api.get(&q).await;
    assert_eq!(first["data"], json!([]), "{first}");
    let second = api.get(&q).await;
    assert_eq!(rows(&second).len(), 1);
    assert_eq!(second["data"][0]["node_name"], OLD);
    assert_eq!(second["data"][0]["level"], 3);
    // Deleting the server-level row takes the node rows with it.
    let deleted = api
        .get(&format!("api/delete_config_file?id={config_id}&ticket={T}"))
        .await;
    // TarsWeb 3.0.15 answers the deleted id as a string.
    assert_eq!(deleted["data"], config_id.to_string());
    assert!(api.handle().snapshot().configs.is_empty());

    // API level 1 is stored at level 1 under the application name, listed by level=1 only.
    let app_cfg = json!({"level":1,"application":APP,"server_name":RPC,"filename":"app.conf","config":" a "});
    let added = api
        .post(&format!("api/add_config_file?ticket={T}"), app_cfg)
        .await;
    assert_eq!(
        (
            added["data"]["level"].clone(),
            added["data"]["server_name"].clone()
        ),
        (json!(1), json!(APP))
    );
    assert_eq!(
        added["data"]["config"], "a",
        "one whitespace character trimmed each side"
    );
    let level1 = api
        .get(&format!(
            "api/config_file_list?ticket={T}&level=1&application={APP}"
        ))
        .await;
    assert_eq!(rows(&level1).len(), 1);
    let level5 = api
        .get(&format!(
            "api/config_file_list?ticket={T}&level=5&application={APP}&server_name={RPC}"
        ))
        .await;
    assert_eq!(level5["data"], json!([]));
    let other = api
        .get(&format!(
            "api/config_file_list?ticket={T}&level=7&application={APP}"
        ))
        .await;
    assert_eq!(other["data"], json!([]));
    // Unknown config_id: a system error, as TarsWeb 3.0.15 answers; missing: kind D.
    let none = api.get(&q).await;
    assert_eq!(none["ret_code"], 500, "{none}");
    assert_eq!(none["data"], json!({}));
    let missing = api
        .get(&format!(
            "api/node_config_file_list?ticket={T}&application={APP}&server_name={RPC}"
        ))
        .await;
    assert_eq!(missing["err_msg"], "系统内部错误");
}

#[tokio::test]
async fn deploy_is_an_upsert_that_keeps_the_id_and_resets_the_state() {
    let api = Api::default().await;
    let first = api.deploy(RPC, OLD).await;
    let id = first["data"]["server_conf"][0]["id"].clone();
    let task = api.add_task(&id, "start").await;
    assert_eq!(api.wait_task(&task).await["status"], 3);
    assert_eq!(api.handle().snapshot().servers[0].setting_state, "active");
    let again = api.deploy(RPC, OLD).await;
    assert_eq!(again["data"]["server_conf"][0]["id"], id);
    assert_eq!(
        again["data"]["server_conf"][0]["patch_time"],
        "1970-01-01T00:00:00.000Z"
    );
    let view = api.handle().snapshot();
    assert_eq!(
        (view.servers.len(), view.servers[0].setting_state.as_str()),
        (1, "inactive")
    );
    assert_eq!(view.adapters.len(), 1);
}

#[tokio::test]
async fn undeploy_deletes_node_configs_at_submit_and_the_row_at_execution() {
    let api = Api::start(EmulatorConfig {
        token: Some(T.into()),
        nodes: vec![OLD.into()],
        task_duration: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    api.handle()
        .seed_deployed_server(APP, RPC, "RpcServiceObj", OLD, &[("config.ini", "x")], b"p");
    let id = api.server_id(RPC, OLD).await;
    let task = api.add_task(&id, "undeploy_tars").await;
    let submitted = api.handle().snapshot();
    assert!(
        submitted.configs.is_empty(),
        "node rows, then the orphaned server rows, go at submit"
    );
    assert_eq!(submitted.servers.len(), 1, "the row stays until the task runs");
    let running = api.get(&format!("api/task?task_no={task}&ticket={T}")).await;
    assert!(
        matches!(running["data"]["status"].as_u64(), Some(0 | 2)),
        "{running}"
    );
    assert_eq!(api.wait_task(&task).await["status"], 3);
    let done = api.handle().snapshot();
    assert!(done.servers.is_empty() && done.adapters.is_empty(), "{done:?}");
    // The server id is now invalid.
    let stale = api
        .post(
            &format!("api/add_task?ticket={T}"),
            json!({"items":[{"server_id":id,"command":"stop"}]}),
        )
        .await;
    assert_eq!(stale["err_msg"], "系统内部错误");
}

#[tokio::test]
async fn tasks_on_down_or_unregistered_nodes_fail_and_serial_tasks_cancel_the_rest() {
    let api = Api::default().await;
    api.deploy(RPC, OLD).await;
    api.deploy(RPC, "10.9.9.9").await; // deploy_server does not check the node
    let old = api.server_id(RPC, OLD).await;
    let unknown = api.server_id(RPC, "10.9.9.9").await;
    let failed = api.wait_task(&api.add_task(&unknown, "restart").await).await;
    assert_eq!(failed["status"], 4);
    assert!(
        failed["items"][0]["execute_info"]
            .as_str()
            .unwrap()
            .contains("10.9.9.9"),
        "{failed}"
    );

    api.handle().set_node_alive(OLD, false);
    let down = api.wait_task(&api.add_task(&old, "start").await).await;
    assert_eq!(down["items"][0]["status_info"], "EM_I_FAILED");
    assert!(down["items"][0]["execute_info"].as_str().unwrap().contains(OLD));
    let nodes = api
        .get(&format!("api/list_tars_node?node_name=172.25&ticket={T}"))
        .await;
    let row = rows_of(&nodes["data"]["rows"])
        .iter()
        .find(|r| r["node_name"] == OLD)
        .unwrap()
        .clone();
    assert_eq!(
        (row["present_state"].as_str(), row["last_heartbeat"].as_str()),
        (Some("inactive"), Some(""))
    );
    api.handle().set_node_alive(OLD, true);
    // Without its registry, TarsWeb shows the database's heartbeat: a raw date.
    api.handle()
        .add_fault(tarsform::emulator::FaultRule::RegistryDown);
    let nodes = api
        .get(&format!("api/list_tars_node?node_name={OLD}&ticket={T}"))
        .await;
    let row = &rows_of(&nodes["data"]["rows"])[0];
    assert_eq!(row["present_state"], "active");
    assert!(
        row["last_heartbeat"].as_str().unwrap().ends_with(".000Z"),
        "{row}"
    );
    api.handle().clear_faults();

    // JSON `true` is serial: after the failing first item the second is cancelled.
    let body = json!({"serial":true,"items":[{"server_id":unknown,"command":"restart","parameters":{}},
        {"server_id":old,"command":"restart","parameters":{}}]});
    let task_no = api.post(&format!("api/add_task?ticket={T}"), body).await["data"]
        .as_str()
        .unwrap()
        .to_string();
    let task = api.wait_task(&task_no).await;
    assert_eq!(task["serial"], true);
    assert_eq!(task["status"], 6, "a mix of FAILED and CANCEL is PARIAL: {task}");
    assert_eq!(task["items"][1]["status_info"], "EM_I_CANCEL");
    assert_eq!(task["userName"], "admin");
    assert!(task["items"][0].get("parameters").is_none());
    // Unknown commands fail in the registry.
    let odd = api.wait_task(&api.add_task(&old, "dance").await).await;
    assert_eq!(odd["items"][0]["execute_info"], "command not support!");
}

#[tokio::test]
async fn fault_rules_api_task_and_node_down() {
    let api = Api::start(EmulatorConfig {
        token: Some(T.into()),
        nodes: vec![OLD.into(), NEW.into()],
        task_duration: Duration::from_millis(20),
        faults: vec![
            "api:server_list#2".parse().unwrap(),
            "task:stop@172.25.0.3".parse().unwrap(),
            "node-down:172.25.0.5".parse().unwrap(),
        ],
        ..Default::default()
    })
    .await;
    let q = format!("api/server_list?tree_node_id=1{APP}&ticket={T}");
    assert_eq!(api.get(&q).await["err_msg"], "");
    assert_eq!(api.get(&q).await["err_msg"], "系统内部错误");
    assert_eq!(api.get(&q).await["err_msg"], "");
    assert_eq!(api.handle().call_count("server_list"), 3);

    api.deploy(RPC, OLD).await;
    api.deploy(RPC, NEW).await;
    let old = api.server_id(RPC, OLD).await;
    let new = api.server_id(RPC, NEW).await;
    assert_eq!(
        api.wait_task(&api.add_task(&old, "restart").await).await["status"],
        3
    );
    let stop = api.wait_task(&api.add_task(&old, "stop").await).await;
    assert_eq!(stop["status"], 4);
    assert!(
        stop["items"][0]["execute_info"]
            .as_str()
            .unwrap()
            .contains("injected fault")
    );
    let down = api.wait_task(&api.add_task(&new, "restart").await).await;
    assert_eq!(down["status"], 4);
    let check = api
        .get(&format!("api/check_tars_node?node_name={NEW}&ticket={T}"))
        .await;
    assert_eq!(check["data"], false);

    api.handle().clear_faults();
    assert_eq!(
        api.wait_task(&api.add_task(&new, "restart").await).await["status"],
        3
    );
    api.handle().add_fault(FaultRule::ApiCall {
        endpoint: "auto_port".into(),
        nth: 3,
    });
    let port = api
        .get(&format!("api/auto_port?node_name={OLD}&ticket={T}"))
        .await;
    assert_eq!(
        port["err_msg"], "系统内部错误",
        "auto_port was called twice by deploy before"
    );
}

#[tokio::test]
async fn latency_delays_every_response() {
    let api = Api::start(EmulatorConfig {
        token: Some(T.into()),
        latency: Duration::from_millis(150),
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    api.get_raw("api/node_list?ticket=bad").await;
    api.get(&format!("api/node_list?ticket={T}")).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_model_persists_across_a_restart_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tars.json");
    let config = EmulatorConfig {
        token: Some(T.into()),
        nodes: vec![OLD.into()],
        data: Some(data.clone()),
        ..Default::default()
    };
    let api = Api::start(config.clone()).await;
    api.handle()
        .seed_deployed_server(APP, RPC, "RpcServiceObj", OLD, &[("config.ini", "a")], b"p");
    api.deploy("agencyBBcosRpcService", OLD).await;
    api.handle()
        .edit_node_config(APP, RPC, OLD, "config.ini", "drifted");
    let before = api.handle().snapshot();
    let list_before = api
        .get(&format!("api/server_list?tree_node_id=1{APP}&ticket={T}"))
        .await;
    api.emulator.shutdown().await;
    assert!(data.exists());

    let api = Api::start(EmulatorConfig {
        nodes: vec![],
        ..config
    })
    .await;
    assert_eq!(api.handle().snapshot(), before);
    let list_after = api
        .get(&format!("api/server_list?tree_node_id=1{APP}&ticket={T}"))
        .await;
    assert_eq!(list_after, list_before);
    assert_eq!(
        api.get(&format!("api/node_list?ticket={T}")).await["data"],
        json!([OLD])
    );
    // Ids keep counting from where they were.
    let next = api.deploy("agencyCBcosRpcService", OLD).await;
    let ids: Vec<u64> = rows(&list_before)
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert!(next["data"]["server_conf"][0]["id"].as_u64().unwrap() > *ids.iter().max().unwrap());
    assert!(api.handle().undeploy_out_of_band(APP, RPC, OLD));
}

#[tokio::test]
async fn loopback_admin_lets_127_0_0_1_in_without_a_valid_ticket_like_tarsweb() {
    let strict = Api::default().await;
    let refused = strict.get("api/node_list?ticket=wrong").await;
    assert_eq!(refused["ret_code"], 500, "{refused}");
    let lenient = Api::start(EmulatorConfig {
        token: Some(T.into()),
        nodes: vec![OLD.into()],
        loopback_admin: true,
        ..Default::default()
    })
    .await;
    let accepted = lenient.get("api/node_list?ticket=wrong").await;
    assert_eq!(accepted["ret_code"], 200, "{accepted}");
    assert_eq!(accepted["data"], json!([OLD]));
}

#[tokio::test]
async fn every_answer_sets_tarsweb_cookies_and_the_rate_limit_answers_429() {
    let api = Api::start(EmulatorConfig {
        token: Some(T.into()),
        nodes: vec![OLD.into()],
        rate_limit: Some("3/60".parse().unwrap()),
        ..Default::default()
    })
    .await;
    let url = format!("{}api/node_list?ticket={T}", api.base);
    for _ in 0..3 {
        let response = api.http.get(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let cookies: Vec<String> = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().split('=').next().unwrap().to_string())
            .collect();
        for name in ["locale", "locale.sig", "enable", "k8s", "show"] {
            assert!(cookies.iter().any(|c| c == name), "{name} missing: {cookies:?}");
        }
    }
    let limited = api.http.get(&url).send().await.unwrap();
    assert_eq!(limited.status().as_u16(), 429);
    let wait: u64 = limited.headers()[reqwest::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
}
