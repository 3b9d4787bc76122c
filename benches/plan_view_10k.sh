#!/usr/bin/env bash
# The 10,000-node plan as a user runs it (issue 15): `tarsform plan --refresh=false` of
# 100 agencies × (rpc + gateway) × 50 hosts against an empty state, human output to a
# file; then the same with `--full`. Prints wall time, peak RSS and output size of each.
#
# usage: benches/plan_view_10k.sh [TARSFORM_BINARY]   (default: target/release/tarsform)
# Nothing is contacted: --refresh=false reads no Tars; the hosts are loopback names.
set -euo pipefail
bin=$(realpath "${1:-target/release/tarsform}")
ws=$(mktemp -d)
trap '[ -n "${KEEP_WS:-}" ] || rm -rf "$ws"' EXIT; echo "workspace: $ws" >&2

# Stand-in release archives, as the demo writes them.
env -u TARSFORM_TARS_TOKEN "$bin" demo --workspace "$ws/demo" >/dev/null 2>&1
mv "$ws/demo/binary" "$ws/binary"
rm -rf "$ws/demo"

{
  printf '[tars]\ntars_url = "http://127.0.0.1:3000"\ntars_token = "bench-token"\ntars_pkg_dir = "binary/"\n\n'
  printf '[chain]\nchain_id = "chain0"\n\n'
  for a in $(seq 0 99); do
    ips=$(for i in $(seq 1 50); do printf '"127.1.%d.%d",' "$a" "$i"; done)
    peers=$(for i in $(seq 1 50); do printf '"127.1.%d.%d:30300",' "$a" "$i"; done)
    ips="[${ips%,}]"
    printf '[[agency]]\nname = "agency%d"\n' "$a"
    printf '    [agency.rpc]\n    deploy_ip = %s\n    listen_ip = "0.0.0.0"\n    listen_port = 20200\n    thread_count = 4\n' "$ips"
    printf '    [agency.gateway]\n    deploy_ip = %s\n    listen_ip = "0.0.0.0"\n    listen_port = 30300\n    peers = [%s]\n\n' "$ips" "${peers%,}"
  done
} > "$ws/config.toml"

cd "$ws"
for mode in grouped full; do
  flag=()
  [ "$mode" = full ] && flag=(--full)
  /usr/bin/time -v "$bin" plan --refresh=false --config config.toml "${flag[@]}" \
    > "plan-$mode.txt" 2> "time-$mode.txt" || true
  wall=$(grep 'Elapsed (wall clock)' "time-$mode.txt" | awk '{print $NF}')
  rss=$(grep 'Maximum resident' "time-$mode.txt" | awk '{print $NF}')
  printf '%-8s wall %s  peak RSS %d MiB  output %d lines, %d bytes\n' "$mode" "$wall" \
    $((rss / 1024)) "$(wc -l < "plan-$mode.txt")" "$(wc -c < "plan-$mode.txt")"
  tail -n 1 "plan-$mode.txt"
done
