//! Adapters (`t_adapter_conf`): the row TarsWeb's `adapter_conf_list` returns.

use serde::Deserialize;

use super::de;

/// One row of `GET api/adapter_conf_list?id=<server id>` (TarsWeb's `adapterConfStruct`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AdapterConf {
    #[serde(deserialize_with = "de::u64_lenient")]
    pub id: u64,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub node_name: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub adapter_name: String,
    /// `<app>.<server>.<obj_name>`.
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub servant: String,
    #[serde(default, deserialize_with = "de::string_lenient")]
    pub endpoint: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_rows_decode_leniently() {
        let row: AdapterConf = serde_json::from_value(serde_json::json!({
            "id": "7", "node_name": "172.25.0.3", "adapter_name": "a.s.ObjAdapter",
            "servant": "a.s.Obj", "endpoint": "tcp -h 172.25.0.3 -t 60000 -p 20001 -e 0",
            "thread_num": 8, "posttime": "2026-01-01 00:00:00"
        }))
        .unwrap();
        assert_eq!(row.id, 7);
        assert_eq!(row.servant, "a.s.Obj");
    }
}
