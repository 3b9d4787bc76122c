#!/usr/bin/env bash
# Measures `tarsform emulator` on loopback: startup time (spawn → URL printed), idle RSS,
# and requests/second of `server_list` (16 deployed nodes) with wrk: 2 threads,
# 32 connections, 5 s. Needs curl and wrk (`apt-get install wrk`). Stops by itself.
#
# Usage: benches/emulator_rps.sh [path/to/tarsform]
#   default binary: ${CARGO_TARGET_DIR:-target}/debug/tarsform (build it first)
set -euo pipefail

BIN=${1:-${CARGO_TARGET_DIR:-target}/debug/tarsform}
TOKEN=bench-token
OUT=$(mktemp)

START=$(date +%s%N)
"$BIN" emulator --listen 127.0.0.1:0 --token "$TOKEN" --node 172.25.0.3 --node 172.25.0.5 >"$OUT" &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; rm -f "$OUT"' EXIT
for _ in $(seq 1 2000); do
    grep -q listening "$OUT" && break
    sleep 0.005
done
READY=$(date +%s%N)
URL=$(sed 's/.*listening on //' "$OUT")
echo "startup: $(((READY - START) / 1000000)) ms  ($URL)"

sleep 0.5
echo "idle RSS: $(($(ps -o rss= -p "$PID") / 1024)) MiB"

# 8 servers on 2 nodes, deployed the way BcosBuilder does.
for i in $(seq 1 8); do
    for node in 172.25.0.3 172.25.0.5; do
        curl -sf -o /dev/null -X POST -H 'content-type: application/json' \
            "${URL}api/deploy_server?ticket=$TOKEN" \
            -d "{\"application\":\"chain0\",\"server_name\":\"agency${i}BcosRpcService\",\"node_name\":\"$node\",
                 \"server_type\":\"tars_cpp\",\"template_name\":\"tars.cpp.default\",
                 \"adapters\":[{\"obj_name\":\"RpcServiceObj\",\"port\":$((20000 + i)),\"bind_ip\":\"$node\",\"port_type\":\"tcp\",
                 \"thread_num\":8,\"max_connections\":100000,\"queuecap\":50000,\"queuetimeout\":20000}]}"
    done
done

wrk -t2 -c32 -d5s "${URL}api/server_list?tree_node_id=1chain0&ticket=$TOKEN"
echo "RSS after load: $(($(ps -o rss= -p "$PID") / 1024)) MiB"
