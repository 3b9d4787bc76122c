//! `config.ini` of an rpc or gateway node, as BcosBuilder renders it from its templates
//! `tpl/config.ini.rpc` and `tpl/config.ini.gateway`: the template's comments are kept in
//! the form BcosBuilder writes them, and the keys it sets come after the template's own
//! keys of the same section. The content does not depend on the deploy IP.

use crate::config::{Agency, ServiceKind, ServiceRef, Topology};

use super::ini::IniWriter;

/// The `config.ini` of every node of `svc` (all its deploy IPs get the same file).
pub fn config_ini(topology: &Topology, svc: ServiceRef) -> String {
    let chain_id = topology.chain.chain_id.as_str();
    let agency = svc.agency;
    let service = svc.service;
    let uuid = gateway_uuid(chain_id, &agency.name);
    // BcosBuilder writes the service's SSL flag to both `sm_ssl` and `[chain] sm_crypto`;
    // `[cert]` stays as in the template: the services default to the `sm_*` file names.
    let sm = topology.chain.cert_mode(svc.kind()).is_sm();
    let mut ini = IniWriter::new();
    match svc.kind() {
        ServiceKind::Rpc => {
            ini.section("rpc")
                .key("listen_ip", &service.listen_ip)
                .key("listen_port", service.listen_port)
                .key("thread_count", service.thread_count)
                .key("sm_ssl", sm)
                .note("; ssl connection switch, if disable the ssl connection, default = false")
                .key("enable_ssl", true)
                .note("; return input params in sendtransaction() return, default = true")
                .note("; return_input_params = false")
                .key("uuid", &uuid);
            service_section(&mut ini, ServiceKind::Rpc, chain_id, agency);
            chain_section(&mut ini, chain_id, sm);
            cert_section(&mut ini);
        }
        ServiceKind::Gateway => {
            ini.section("p2p")
                .key("listen_ip", &service.listen_ip)
                .key("listen_port", service.listen_port)
                .note("; ssl or sm ssl")
                .key("sm_ssl", sm)
                .key("nodes_path", "./")
                .key("nodes_file", "nodes.json")
                .note("; enable p2p ssl verify, default is true")
                .note("; enable_ssl_verify = true")
                .key("thread_count", service.thread_count)
                .key("uuid", &uuid);
            ini.section("certificate_blacklist")
                .note("; crl.0 should be nodeid, nodeid's length is 512")
                .note(";crl.0 = ");
            ini.section("certificate_whitelist")
                .note("; cal.0 should be nodeid, nodeid's length is 512")
                .note(";cal.0 = ");
            service_section(&mut ini, ServiceKind::Gateway, chain_id, agency);
            cert_section(&mut ini);
            chain_section(&mut ini, chain_id, sm);
        }
    }
    storage_security_section(&mut ini, agency);
    failover_section(&mut ini, agency);
    if svc.kind() == ServiceKind::Gateway {
        flow_control_section(&mut ini);
    }
    log_section(&mut ini);
    ini.finish()
}

/// `uuid3(NAMESPACE_URL, "<chain>.<agency>BcosGatewayService")`: shared by the rpc and
/// gateway of one agency and by all their nodes.
pub fn gateway_uuid(chain_id: &str, agency: &str) -> String {
    let name = format!("{chain_id}.{}", ServiceKind::Gateway.server_name(agency));
    uuid::Uuid::new_v3(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

fn service_section(ini: &mut IniWriter, kind: ServiceKind, chain_id: &str, agency: &Agency) {
    ini.section("service");
    match kind {
        ServiceKind::Rpc => {
            ini.note(";gateway = chain0");
        }
        ServiceKind::Gateway => {
            ini.note(";rpc = chain0")
                .note("; run without tars framework")
                .note("; without_tars_framework = true")
                .note("; tars_proxy_conf = conf/tars_proxy.ini");
        }
    }
    let gateway = ServiceKind::Gateway.server_name(&agency.name);
    let rpc = ServiceKind::Rpc.server_name(&agency.name);
    ini.key("gateway", format!("{chain_id}.{gateway}"))
        .key("rpc", format!("{chain_id}.{rpc}"))
        .key("without_tars_framework", false)
        .key("tars_proxy_conf", "conf/tars_proxy.ini");
}

fn chain_section(ini: &mut IniWriter, chain_id: &str, sm: bool) {
    ini.section("chain")
        .note("; use sm crypto or not, should never be changed")
        .key("sm_crypto", sm)
        .key("chain_id", chain_id);
}

fn cert_section(ini: &mut IniWriter) {
    ini.section("cert")
        .note("; directory the certificates located in")
        .key("ca_path", "./conf")
        .note("; the ca certificate file")
        .key("ca_cert", "ca.crt")
        .note("; the node private key file")
        .key("node_key", "ssl.key")
        .note("; the node certificate file")
        .key("node_cert", "ssl.crt");
}

fn storage_security_section(ini: &mut IniWriter, agency: &Agency) {
    ini.section("storage_security")
        .note("; enable data disk encryption or not, default is false")
        .key("enable", agency.enable_storage_security)
        .note("; url of the key center, in format of ip = port")
        .note(";key_center_url = ")
        .note(";cipher_data_key = ")
        .key("key_center_url", &agency.key_center_url)
        .key("cipher_data_key", &agency.cipher_data_key);
}

fn failover_section(ini: &mut IniWriter, agency: &Agency) {
    ini.section("failover")
        .note("; enable failover or not, default disable")
        .key("enable", false)
        .note("; the address of etcd, can configure multiple comma-separated")
        .key("cluster_url", &agency.failover_cluster_url);
}

/// Every line of the gateway template's `[flow_control]` is a comment.
const FLOW_CONTROL_NOTES: &[&str] = &[
    "; rate limiter stat reporter interval, unit = ms",
    "; stat_reporter_interval = 60000",
    "; time window for rate limiter, default = 3s",
    "; time_window_sec = 3",
    "; enable distributed rate limiter, redis required, default = false",
    "; enable_distributed_ratelimit = false",
    "; enable local cache for distributed rate limiter, work with enable_distributed_ratelimit, default = true",
    "; enable_distributed_ratelimit_cache = true",
    "; distributed rate limiter local cache percent, work with enable_distributed_ratelimit_cache, default = 20",
    "; distributed_ratelimit_cache_percent = 20",
    "; the module that does not limit bandwidth",
    "; list of all modules = raft,pbft,amop,block_sync,txs_sync,light_node,cons_txs_sync",
    "; modules_without_bw_limit = raft,pbft",
    "; allow the msg exceed max permit pass",
    "; outgoing_allow_exceed_max_permit = false",
    "; restrict the outgoing bandwidth of the node",
    "; both integer and decimal is support, unit = Mb",
    "; total_outgoing_bw_limit = 10",
    "; restrict the outgoing bandwidth of the the connection",
    "; conn_outgoing_bw_limit = 2",
    "; specify ip to limit bandwidth, format = conn_outgoing_bw_limit_x.x.x.x=n",
    ";   conn_outgoing_bw_limit_192.108.0.1 = 3",
    ";   conn_outgoing_bw_limit_192.108.0.2 = 3",
    ";   conn_outgoing_bw_limit_192.108.0.3 = 3",
    "; default bandwidth limit for the group",
    "; group_outgoing_bw_limit = 2",
    "; specify group to limit bandwidth, group_outgoing_bw_limit_groupname = n",
    ";   group_outgoing_bw_limit_group0 = 2",
    ";   group_outgoing_bw_limit_group1 = 2",
    ";   group_outgoing_bw_limit_group2 = 2",
    "; should not change incoming_p2p_basic_msg_type_list if you known what you would to do",
    "; incoming_p2p_basic_msg_type_list = ",
    "; the qps limit for p2p basic msg type, the msg type has been config by incoming_p2p_basic_msg_type_list, default = -1",
    "; incoming_p2p_basic_msg_type_qps_limit = -1",
    "; default qps limit for all module message, default = -1",
    "; incoming_module_msg_type_qps_limit = -1",
    "; specify module to limit qps, incoming_module_qps_limit_moduleid = n",
    ";       incoming_module_qps_limit_xxxx = 1000",
];

fn flow_control_section(ini: &mut IniWriter) {
    ini.section("flow_control");
    for line in FLOW_CONTROL_NOTES {
        ini.note(line);
    }
}

fn log_section(ini: &mut IniWriter) {
    ini.section("log")
        .key("enable", true)
        .key("log_path", "./log")
        .note("; info debug trace")
        .key("level", "info")
        .note("; mb")
        .key("max_log_file_size", 200)
        .key("enable_rate_collector", false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_uuid_follows_the_uuid3_rule() {
        assert_eq!(
            gateway_uuid("chain0", "agencyA"),
            "898fb2f0-e306-3fe5-bbd9-45d968dda95a"
        );
        assert_eq!(
            gateway_uuid("chain0", "agencyB"),
            "d25207b0-9c6a-375c-b757-3d60c2b1ad45"
        );
    }
}
