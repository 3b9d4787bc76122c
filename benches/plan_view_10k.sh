#!/usr/bin/env bash
# The 10,000-node plan as a user runs it (issue 15): `tarsform plan --refresh=false` of
# 100 agencies × (rpc + gateway) × 50 hosts, human output to a file:
#   (a) against an empty state (everything to add), grouped and with `--full`;
#   (b) against a state that matches (no changes): the workspace as after an apply, its
#       generated files and state written by `examples/matching_state.rs`.
# Prints wall time, peak RSS and output size of each.
#
# usage: benches/plan_view_10k.sh [TARSFORM_BINARY]   (default: target/release/tarsform)
#   MATCHING_STATE=path   the matching_state example (default: built with cargo)
# Nothing is contacted: --refresh=false reads no Tars; the hosts are loopback names.
# (b) writes 75,000 files: on /dev/shm when there is one (each write is synced).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-target/release/tarsform}")
ws=$(mktemp -d)
matching=$(mktemp -d -p "$([ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")")
trap '[ -n "${KEEP_WS:-}" ] || rm -rf "$ws" "$matching"' EXIT
echo "workspaces: $ws (a), $matching (b)" >&2

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

# One measured `plan`: prints its label, wall time, peak RSS, output size, last line.
measure() {
  local label=$1 dir=$2
  shift 2
  (
    cd "$dir"
    /usr/bin/time -v "$bin" plan --refresh=false --config config.toml "$@" \
      > "plan-$label.txt" 2> "time-$label.txt" || true
    wall=$(grep 'Elapsed (wall clock)' "time-$label.txt" | awk '{print $NF}')
    rss=$(grep 'Maximum resident' "time-$label.txt" | awk '{print $NF}')
    printf '%-10s wall %s  peak RSS %d MiB  output %d lines, %d bytes\n' "$label" "$wall" \
      $((rss / 1024)) "$(wc -l < "plan-$label.txt")" "$(wc -c < "plan-$label.txt")"
    tail -n 1 "plan-$label.txt"
  )
}

measure grouped "$ws"
measure full "$ws" --full

# (b): the same topology, applied. The helper signs 15,000 leaves: about a minute.
helper=${MATCHING_STATE:-}
if [ -z "$helper" ]; then
  (cd "$root" && cargo build --release --quiet --example matching_state)
  helper="${CARGO_TARGET_DIR:-$root/target}/release/examples/matching_state"
fi
helper=$(realpath "$helper")
cp -r "$ws/binary" "$ws/config.toml" "$matching/"
(cd "$matching" && "$helper" config.toml) >&2
measure matching "$matching"
