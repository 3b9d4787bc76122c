#!/usr/bin/env bash
# The GitOps sequence of examples/gitops/.github/workflows/ (tarsform-plan.yml, tarsform-apply.yml), run locally
# against `tarsform emulator`:
#
#   1. pull request: plan --format markdown --out plans/pr.plan.json, show the saved plan
#   2. merge:        apply plans/pr.plan.json --auto-approve
#   3. drift check:  plan --detailed-exitcode must exit 0 (no changes)
#   4. a second PR saves plans/expand.plan.json, then the topology changes again before
#      it is merged: applying the old saved plan must be refused as stale (exit 1),
#      and so must re-applying the first, already applied plan.
#   5. a fresh plan of the final topology applies, and the drift check exits 0 again.
#   6. a package upgrade PR pins the rpc release by version + sha256 ([tars.packages]);
#      apply --json fetches, verifies and caches it; show --apply-result renders the comment.
#
# Usage: examples/gitops/run-local.sh            (uses TARSFORM_BIN, else `tarsform` on PATH,
#                                                 else target/debug/tarsform)
#        KEEP_WORKDIR=1 examples/gitops/run-local.sh   (keep the temporary directory)
# Exits non-zero, naming the step, on any deviation.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${TARSFORM_BIN:-}"
if [[ -z "$bin" ]]; then
  bin="$(command -v tarsform || true)"
  bin="${bin:-$repo/target/debug/tarsform}"
fi
[[ -x "$bin" ]] || { echo "run-local: tarsform binary not found at $bin (set TARSFORM_BIN or run cargo build)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/tarsform-gitops.XXXXXX")"
emulator_pid=""
cleanup() {
  if [[ -n "$emulator_pid" ]]; then
    kill "$emulator_pid" 2>/dev/null || true
    wait "$emulator_pid" 2>/dev/null || true
  fi
  if [[ "${KEEP_WORKDIR:-0}" == "1" ]]; then
    echo "run-local: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

step() { echo; echo "==> $*"; }
fail() { echo "run-local: FAILED: $*" >&2; exit 1; }

# Runs tarsform, keeping stdout/stderr in files, and checks the exit code.
# usage: run EXPECTED_CODE NAME args...
run() {
  local expected="$1" name="$2"
  shift 2
  local code=0
  "$bin" "$@" >"$work/$name.out" 2>"$work/$name.err" || code=$?
  if [[ "$code" != "$expected" ]]; then
    echo "--- stdout of tarsform $*" >&2; tail -n 40 "$work/$name.out" >&2
    echo "--- stderr of tarsform $*" >&2; tail -n 40 "$work/$name.err" >&2
    fail "\`tarsform $*\` exited $code, expected $expected"
  fi
}

expect_in() { # FILE TEXT
  grep -qF -- "$2" "$1" || { echo "--- $1" >&2; tail -n 40 "$1" >&2; fail "$1 does not contain: $2"; }
}

cd "$work"
export TARSFORM_TARS_TOKEN="gitops-example-token"
export NO_COLOR=1

step "fake release archives in binary/ (BcosBuilder's tars_pkg_dir layout)"
for svc in BcosRpcService BcosGatewayService; do
  mkdir -p "pkg/$svc"
  printf '#!/bin/sh\necho %s\n' "$svc" >"pkg/$svc/$svc"
  chmod +x "pkg/$svc/$svc"
done
mkdir -p binary
tar -C pkg -czf binary/BcosRpcService.tgz BcosRpcService
tar -C pkg -czf binary/BcosGatewayService.tgz BcosGatewayService

step "start the Tars emulator on a free loopback port"
"$bin" emulator --listen 127.0.0.1:0 --token "$TARSFORM_TARS_TOKEN" \
  --node 172.25.0.3 --node 172.25.0.5 --task-ms 50 >emulator.out 2>emulator.err &
emulator_pid=$!
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/^tarsform emulator listening on //p' emulator.out)"
  [[ -n "$url" ]] && break
  kill -0 "$emulator_pid" 2>/dev/null || { cat emulator.err >&2; fail "the emulator exited"; }
  sleep 0.1
done
[[ -n "$url" ]] || fail "the emulator did not report its address"
echo "emulator at $url"

write_topology() { # RPC_IPS THREAD_COUNT
  cat >config.toml <<EOF
[tars]
tars_url = "$url"
# the token comes from TARSFORM_TARS_TOKEN
tars_token = ""
tars_pkg_dir = "binary/"

[chain]
chain_id = "chain0"

[[agency]]
name = "agencyA"
    [agency.rpc]
    deploy_ip = [$1]
    listen_port = 20200
    thread_count = $2

    [agency.gateway]
    deploy_ip = ["172.25.0.3"]
    listen_port = 30300
    peers = ["172.25.0.3:30300"]
EOF
}
write_topology '"172.25.0.3"' 4
run 0 validate validate -c config.toml

step "pull request: plan --format markdown --out plans/pr.plan.json"
run 2 plan-pr plan -c config.toml --format markdown --out plans/pr.plan.json --detailed-exitcode
expect_in plan-pr.out "### tarsform plan for \`chain0\`"
expect_in plan-pr.out "to add, 0 to change, 0 to destroy."
[[ -s plans/pr.plan.json ]] || fail "plans/pr.plan.json was not written"
if grep -qF "$TARSFORM_TARS_TOKEN" plan-pr.out plans/pr.plan.json; then fail "the token leaked into the plan"; fi

step "review: show the saved plan (human and JSON)"
run 0 show show plans/pr.plan.json
expect_in show.out 'node["agencyABcosRpcService"]["172.25.0.3"] will be created'
run 0 show-json show plans/pr.plan.json --json
expect_in show-json.out '"format_version": "1.0"'
expect_in show-json.out '"resource_changes": ['

step "merge: apply the reviewed saved plan"
run 0 apply-pr apply plans/pr.plan.json -c config.toml --auto-approve
expect_in apply-pr.out "Apply complete!"
[[ -f state/chain0.state.json ]] || fail "no state after apply"
[[ ! -e state/chain0.state.json.journal.json ]] || fail "apply left a journal"

step "drift check: plan --detailed-exitcode exits 0"
run 0 plan-clean plan -c config.toml --detailed-exitcode
expect_in plan-clean.out "No changes."

step "second PR: add 172.25.0.5 to the rpc service, save plans/expand.plan.json"
write_topology '"172.25.0.3", "172.25.0.5"' 4
run 2 plan-expand plan -c config.toml --out plans/expand.plan.json --detailed-exitcode
expect_in plan-expand.out 'node["agencyABcosRpcService"]["172.25.0.5"] will be created'

step "the topology changes again before merge: the saved plan is refused as stale"
write_topology '"172.25.0.3", "172.25.0.5"' 8
serial_before="$(grep -o '"serial": [0-9]*' state/chain0.state.json)"
run 1 apply-stale apply plans/expand.plan.json -c config.toml --auto-approve
expect_in apply-stale.err "the saved plan is stale"
expect_in apply-stale.err "the topology file changed"
[[ "$(grep -o '"serial": [0-9]*' state/chain0.state.json)" == "$serial_before" ]] \
  || fail "a refused plan changed the state"

step "the first plan, already applied, is refused too (a state exists now)"
run 1 apply-again apply plans/pr.plan.json -c config.toml --auto-approve
expect_in apply-again.err "it was made with no state, but a state now exists"

step "a fresh plan of the final topology applies; drift check exits 0"
run 2 plan-final plan -c config.toml --out plans/final.plan.json --detailed-exitcode
run 0 apply-final apply plans/final.plan.json -c config.toml --auto-approve
expect_in apply-final.out "Apply complete!"
run 0 plan-final-clean plan -c config.toml --detailed-exitcode
expect_in plan-final-clean.out "No changes."

step "package upgrade PR: pin the rpc release by version + sha256 ([tars.packages])"
mkdir -p releases/v2 pkg2/BcosRpcService
printf '#!/bin/sh\necho BcosRpcService v2\n' >pkg2/BcosRpcService/BcosRpcService
chmod +x pkg2/BcosRpcService/BcosRpcService
tar -C pkg2 -czf releases/v2/BcosRpcService.tgz BcosRpcService
sha="$(sha256sum releases/v2/BcosRpcService.tgz | cut -d' ' -f1)"
cat >>config.toml <<EOF

[tars.packages.rpc]
version = "v2"
sha256 = "$sha"
dir = "releases/v2"
EOF
run 2 plan-upgrade plan -c config.toml --out plans/upgrade.plan.json --detailed-exitcode
expect_in plan-upgrade.out "package changed: upload agencyABcosRpcService.tgz (release v2, sha256 ${sha:0:12}…)"
expect_in plan-upgrade.out "release-sha256:$sha"

step "merge: apply --json fetches, verifies and caches the archive; the PR comment from the events"
code=0
"$bin" apply --json plans/upgrade.plan.json -c config.toml >events.jsonl 2>apply-upgrade.err || code=$?
[[ "$code" == 0 ]] || { tail -n 40 apply-upgrade.err >&2; fail "apply --json of the upgrade exited $code"; }
expect_in apply-upgrade.err "sha256 verified, cached at generated/packages/by-sha256/$sha.tgz"
[[ -f "generated/packages/by-sha256/$sha.tgz" ]] || fail "the pinned archive was not cached"
run 0 apply-result show --apply-result events.jsonl
expect_in apply-result.out "### tarsform apply:"
run 0 plan-upgraded plan -c config.toml --detailed-exitcode
expect_in plan-upgraded.out "No changes."

echo
echo "run-local: OK (the GitOps sequence behaved as documented)"
