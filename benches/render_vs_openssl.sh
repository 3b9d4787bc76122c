#!/usr/bin/env bash
# Time `tarsform render` for 100 nodes with certificates (IPS=50 hosts x rpc+gateway:
# 2 CAs + 150 leaves, since rpc nodes get ssl+sdk) against the openssl CLI issuing
# LEAVES=100 leaves the way BcosBuilder's generate_cert.sh does (genrsa + req + x509 +
# pkcs8 per leaf). Prints wall-clock times; run from anywhere:
#   benches/render_vs_openssl.sh            # builds the release binary first
#   TARSFORM=/path/to/tarsform benches/render_vs_openssl.sh
set -euo pipefail

IPS=${IPS:-50}
LEAVES=${LEAVES:-100}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "${TARSFORM:-}" ]; then
    (cd "$root" && cargo build --release --quiet)
    TARSFORM="${CARGO_TARGET_DIR:-$root/target}/release/tarsform"
fi

now_ms() { date +%s%3N; }

ips=""
for i in $(seq 1 "$IPS"); do ips+="\"10.0.$((i / 250)).$((i % 250 + 1))\", "; done
ips="[${ips%, }]"
cat >"$work/bench.toml" <<TOML
[tars]
tars_url = "http://127.0.0.1:3000"
tars_token = ""
tars_pkg_dir = "binary"

[chain]
chain_id = "chain0"

[[agency]]
name = "agencyA"
    [agency.rpc]
    deploy_ip = $ips
    listen_port = 20200
    [agency.gateway]
    deploy_ip = $ips
    listen_port = 30300
    peers = ["10.0.0.2:30300"]
TOML

cd "$work"
t0=$(now_ms)
"$TARSFORM" render -c bench.toml -o generated >render.out 2>render.err
t1=$(now_ms)
"$TARSFORM" render -c bench.toml -o generated >rerender.out 2>&1
t2=$(now_ms)
leaves=$(find generated -name 'ssl.crt' -o -name 'sdk.crt' | wc -l)
nodes=$(find generated -name config.ini | wc -l)

mkdir -p ossl/ca
cat >ossl/cert.cnf <<'CNF'
[req]
distinguished_name = dn
[dn]
[v3_req]
basicConstraints = CA:FALSE
keyUsage = nonRepudiation, digitalSignature, keyEncipherment
CNF
t3=$(now_ms)
openssl genrsa -out ossl/ca/ca.key 2048 2>/dev/null
openssl req -new -x509 -days 36500 -subj "/CN=FISCO-BCOS/O=FISCO-BCOS/OU=chain" \
    -key ossl/ca/ca.key -config ossl/cert.cnf -out ossl/ca/ca.crt
for i in $(seq 1 "$LEAVES"); do
    d=ossl/leaf$i
    mkdir -p "$d"
    openssl genrsa -out "$d/raw.key" 2048 2>/dev/null
    openssl req -new -sha256 -subj "/CN=FISCO-BCOS/O=fisco-bcos/OU=agency" -key "$d/raw.key" \
        -config ossl/cert.cnf -out "$d/ssl.csr"
    openssl x509 -req -days 36500 -sha256 -CA ossl/ca/ca.crt -CAkey ossl/ca/ca.key -CAcreateserial \
        -in "$d/ssl.csr" -out "$d/ssl.crt" -extensions v3_req -extfile ossl/cert.cnf 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in "$d/raw.key" -out "$d/ssl.key"
    rm -f "$d/raw.key" "$d/ssl.csr"
done
t4=$(now_ms)

per_leaf() { awk -v ms="$1" -v n="$2" 'BEGIN { printf "%.1f", ms / n }'; }
echo "cpus: $(nproc)   $(openssl version)"
echo "tarsform render (first run): $nodes nodes, 2 CAs + $leaves leaves: $((t1 - t0)) ms ($(per_leaf $((t1 - t0)) "$leaves") ms/leaf)"
echo "tarsform render (re-run, all kept): $((t2 - t1)) ms"
echo "openssl CLI: 1 CA + $LEAVES leaves: $((t4 - t3)) ms ($(per_leaf $((t4 - t3)) "$LEAVES") ms/leaf)"
