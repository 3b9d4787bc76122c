#!/usr/bin/env bash
# realtars_20.sh: the BcosBuilder-equivalent deployment on the real Tars kit (a measurement, not a test).
# 5 agencies × (rpc + gateway) × 2 tarsnodes (127.0.0.1, 127.0.0.2) = 20 nodes, stand-in packages, default
# settings (`apply --auto-approve`, parallelism 10, settle 5s). For each run: reset.sh, apply, then check that
# every node is active the moment "Apply complete" is printed, and poll until all 20 are active; a poller
# alongside the apply records when all 20 were first active (the apply returns a settle window later).
# Prints one line per run (exit code, apply wall time, all-active time, active-at-completion, Tars calls per node,
# TarsWeb requests counted by the kit's countproxy.py in front of TarsWeb) and a summary. Keeps every run's output
# (apply-N.out) and the framework's log lines of the run (adminregistry-N.log; tarsnode-N-*.log when a run failed or
# printed a note) in the work dir. Needs the kit up:  REALTARS_HOME=... bash ../shared/realtars/up.sh
#
#   RUNS=10 TARSFORM=target/release/tarsform bash benches/realtars_20.sh
#   COUNT=0 ...   talk to TarsWeb directly (no request count)
#
# Measured 2026-11-29 (2 shared cores, load 14-25, debug build of branch real2): 10 of 10 runs succeeded, all 20 nodes
# active at "Apply complete"; apply 99-333 s (median 141 s; all active +0.2-1.2 s); TarsWeb requests 1154-1424
# (median 1278, 58-71 per node). See docs/operations.md "Testing against a real Tars".
# Measured 2026-11-30 (quiet machine, release build bdef309): 5 of 5 succeeded; first all active 10.7, 11.5, 11.7,
# 80.2, 80.4 s (median 11.7 s; the 80-s runs are admin-port collisions, recovered by one restart at 65 s); apply median
# 20.4 s; TarsWeb requests 407-482 (median 410).
set -u
: "${REALTARS_HOME:?set REALTARS_HOME (the work dir of the kit)}"
# shellcheck disable=SC1091
. "$REALTARS_HOME/env"
root=$(cd "$(dirname "$0")/.." && pwd)
TF=${TARSFORM:-$root/target/release/tarsform}
RUNS=${RUNS:-5}
EXTRA=${EXTRA_ARGS:-}
COUNT=${COUNT:-1}
W=${WORK:-$(mktemp -d /tmp/realtars20.XXXXXX)}
mkdir -p "$W/binary" && cd "$W" || exit 1
cp "$REALTARS_STANDIN_DIR"/*.tgz binary/
export TARSFORM_TARS_TOKEN=$REALTARS_TOKEN
url=$REALTARS_URL
proxy=
if [ "$COUNT" = 1 ]; then
  web_port=${REALTARS_URL##*:}
  count_port=${COUNT_PORT:-13998}
  python3 "$REALTARS_KIT/tools/countproxy.py" "$count_port" "$web_port" "$W/requests.json" > "$W/countproxy.out" 2>&1 &
  proxy=$!
  trap 'kill "$proxy" 2>/dev/null' EXIT
  url=http://127.0.0.1:$count_port
  for _ in $(seq 1 50); do curl -s -o /dev/null "$url/" && break; sleep 0.1; done
fi
requests() { [ -n "$proxy" ] && jq -r .total "$W/requests.json" 2>/dev/null || echo -; }
logs=/usr/local/app
lines() { wc -l < "$1" 2>/dev/null || echo 0; }
{
  printf '[tars]\ntars_url = "%s"\ntars_token = ""\ntars_pkg_dir = "binary/"\n\n[chain]\nchain_id = "bench20"\nrpc_sm_ssl = false\ngateway_sm_ssl = false\n' "$url"
  i=0
  for a in A B C D E; do
    printf '\n[[agency]]\nname = "agency%s"\nenable_storage_security = false\n' "$a"
    printf '    [agency.rpc]\n    deploy_ip = ["127.0.0.1", "127.0.0.2"]\n    listen_ip = "0.0.0.0"\n    listen_port = %d\n    thread_count = 4\n' $((20200 + i))
    printf '    [agency.gateway]\n    deploy_ip = ["127.0.0.1", "127.0.0.2"]\n    listen_ip = "0.0.0.0"\n    listen_port = %d\n    peers = ["127.0.0.1:30300", "127.0.0.2:30300"]\n' $((30300 + i))
    i=$((i + 1))
  done
} > config.toml
active() { curl -s "$REALTARS_URL/api/server_list?tree_node_id=1bench20" | jq '[.data[]? | select(.present_state=="active")] | length'; }
now() { date +%s.%N; }
ok=0
for run in $(seq 1 "$RUNS"); do
  bash "$REALTARS_KIT/reset.sh" > /dev/null 2>&1
  rm -rf state generated
  [ -n "$proxy" ] && kill -USR1 "$proxy" && sleep 0.2
  admin_log=$logs/tars/app_log/tars/tarsAdminRegistry/tars.tarsAdminRegistry.log
  node_logs=("$logs/tars/app_log/tars/tarsnode/tars.tarsnode.log" "$logs/tars-node2/app_log/tars/tarsnode/tars.tarsnode.log")
  admin_from=$(lines "$admin_log"); node_from=("$(lines "${node_logs[0]}")" "$(lines "${node_logs[1]}")")
  t0=$(now)
  # When all 20 are first active, seen by a poller running alongside the apply (which
  # itself returns only after every node stayed up for the settle window).
  rm -f "first-active-$run"
  ( while :; do [ "$(active)" = 20 ] && { now > "first-active-$run"; break; }; sleep 0.25; done ) &
  poller=$!
  "$TF" apply -c config.toml --auto-approve $EXTRA > "apply-$run.out" 2>&1
  rc=$?
  t1=$(now)
  reqs=$(requests)
  at_complete=$(active)
  t2=$t1
  if [ $rc = 0 ]; then
    for _ in $(seq 1 480); do [ "$(active)" = 20 ] && break; sleep 0.25; done
    t2=$(now)
  fi
  kill "$poller" 2>/dev/null; wait "$poller" 2>/dev/null
  first=-
  [ -s "first-active-$run" ] && first=$(printf '%.1fs' "$(echo "$(cat "first-active-$run") - $t0" | bc)")
  calls=$(grep -o 'Tars calls: .*' "apply-$run.out" | tail -1)
  [ $rc = 0 ] && [ "$at_complete" = 20 ] && ok=$((ok + 1))
  printf 'run %2d: exit %d  apply %6.1fs  all active %6.1fs (first all active %s)  active at completion %2s/20  %s  TarsWeb requests %s\n' \
    "$run" $rc "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t0" | bc)" "$first" "$at_complete" "$calls" "$reqs"
  tail -n +$((admin_from + 1)) "$admin_log" > "adminregistry-$run.log" 2>/dev/null
  if [ $rc != 0 ] || grep -q '^note:' "apply-$run.out"; then
    for i in 0 1; do tail -n +$((node_from[i] + 1)) "${node_logs[i]}" > "tarsnode-$run-$((i + 1)).log" 2>/dev/null; done
    # tarsnode's own log of each server (its state changes, keep-alives, start time-outs)
    for dir in "$logs/tars/app_log/tars/tarsnode" "$logs/tars-node2/app_log/tars/tarsnode"; do
      node=$([ "$dir" = "$logs/tars/app_log/tars/tarsnode" ] && echo 1 || echo 2)
      for f in "$dir"/tars.tarsnode.bench20.*.log; do
        [ -f "$f" ] && cp "$f" "tarsnode-$run-$node-$(basename "$f" .log | sed 's/^tars.tarsnode.bench20.//').log"
      done
    done
  fi
  [ $rc = 0 ] || grep -E 'Error:|failed|Rollback' "apply-$run.out" | head -5 | sed 's/^/        /'
  grep '^note:' "apply-$run.out" | sed 's/^/        /' | head -5
done
bash "$REALTARS_KIT/reset.sh" > /dev/null 2>&1
echo "realtars_20: $ok of $RUNS runs succeeded with every node active at \"Apply complete\" (work dir $W)"
