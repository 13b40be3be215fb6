#!/usr/bin/env bash
# What Keystone token validation costs a request: the same workload against two Coffer
# instances of the same build in the same run — one in trusted-headers mode, one in keystone
# mode against a real local Keystone (scripts/keystone) — with a warm token cache.
#
# Usage: bench/keystone.sh [--duration SECS] [--connections N] [--workloads LIST] [--no-build]
#
#   --duration SECS   measured seconds per run (default 10)
#   --connections N   connections of the throughput runs (default 32); latency runs use 1
#   --workloads LIST  comma-separated subset of get-metadata,list,get-payload (default
#                     get-metadata,list)
#   --no-build        use target/release/coffer as it is
#
# For each workload and mode: a latency run (1 connection, 1 thread: the median is the time
# of one request) and a throughput run. The report gives the medians, the median added by
# keystone mode in ms (the target: <= 1 ms), and the throughput ratio keystone / trusted.
# Everything runs on loopback; everything started is stopped by PID.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
WRK_DIR="$BENCH_DIR/wrk"
SEED_COUNT=100
PAYLOAD_B64='AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8='
CREATE_BODY='{"payload": "'"$PAYLOAD_B64"'", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}'

duration=10
connections=32
workloads=(get-metadata list)
build=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --workloads) IFS=, read -r -a workloads <<<"$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "usage: $0 [--duration SECS] [--connections N] [--workloads LIST] [--no-build]" >&2
       exit 2 ;;
  esac
done

log() { echo "bench: $*" >&2; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y wrk curl python3)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-bench-ks.XXXXXX")
PIDS=()
KEYSTONE_DIR=
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  [[ -n "$KEYSTONE_DIR" ]] && "$ROOT/scripts/keystone" stop "$KEYSTONE_DIR" >/dev/null 2>&1
  if (( rc == 0 )); then rm -rf "$WORK"; else log "failed; logs kept in $WORK"; fi
}
trap cleanup EXIT

if (( build )); then
  log "building Coffer (release)"
  (cd "$ROOT" && cargo build --release --quiet --bin coffer)
fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/coffer"
[[ -x "$BIN" ]] || die "no binary at $BIN"

log "starting Keystone (scripts/keystone start)"
eval "$("$ROOT/scripts/keystone" start)"
KEYSTONE_DIR=${KEYSTONE_DIR:?scripts/keystone did not export KEYSTONE_DIR}

# A user token: the bootstrap admin, scoped to its project.
read -r TOKEN PROJECT < <(python3 - "$COFFER_KEYSTONE_ENV" <<'EOF'
import json, sys, urllib.request
env = json.load(open(sys.argv[1]))
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": env["admin_username"], "domain": {"name": env.get("admin_user_domain", "Default")},
    "password": env["admin_password"]}}},
    "scope": {"project": {"name": env["admin_project"],
                          "domain": {"name": env.get("admin_project_domain", "Default")}}}}}
req = urllib.request.Request(env["auth_url"].rstrip("/") + "/auth/tokens?nocatalog",
                             data=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=30) as r:
    print(r.headers["X-Subject-Token"], json.load(r)["token"]["project"]["id"])
EOF
)
[[ -n "$TOKEN" && -n "$PROJECT" ]] || die "no token from Keystone"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

declare -A URL=()
start_coffer() {
  local mode=$1 port dir
  port=$(free_port)
  dir="$WORK/$mode"
  mkdir -p "$dir"
  if [[ $mode == keystone ]]; then
    python3 - "$COFFER_KEYSTONE_ENV" >"$dir/coffer.toml" <<'EOF'
import json, sys
env = json.load(open(sys.argv[1]))
print('[auth]\nmode = "keystone"\n[auth.keystone]')
print('auth_url = %s' % json.dumps(env["auth_url"]))
print('username = %s' % json.dumps(env["service_username"]))
print('password_file = %s' % json.dumps(env["service_password_file"]))
EOF
  else
    : >"$dir/coffer.toml"
  fi
  (cd "$dir" && exec env -u RUST_LOG COFFER_CONFIG="$dir/coffer.toml" \
    COFFER__SERVER__BIND="127.0.0.1:$port" COFFER__SERVER__DATA_DIR="$dir/data" \
    COFFER__DATABASE__URL="sqlite://$dir/data/coffer.db" COFFER__LOGGING__LEVEL=warn \
    "$BIN" serve) </dev/null >"$dir/coffer.log" 2>&1 &
  PIDS+=($!)
  URL[$mode]="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "${URL[$mode]}/" && return 0
    sleep 0.1
  done
  tail -20 "$dir/coffer.log" >&2
  die "coffer ($mode) did not start"
}
start_coffer trusted
start_coffer keystone

# curl_as MODE ARGS...: a request with the identity of MODE.
curl_as() {
  local mode=$1; shift
  if [[ $mode == keystone ]]; then
    curl -s --max-time 30 -H "X-Auth-Token: $TOKEN" "$@"
  else
    curl -s --max-time 30 -H "X-Project-Id: $PROJECT" "$@"
  fi
}

for mode in trusted keystone; do
  : >"$WORK/$mode.ids"
  for ((i = 0; i < SEED_COUNT; i++)); do
    curl_as "$mode" -H 'Content-Type: application/json' --data-binary "$CREATE_BODY" \
      "${URL[$mode]}/v1/secrets" | grep -o '/secrets/[0-9a-f-]*' | sed 's#/secrets/##' \
      >>"$WORK/$mode.ids"
  done
  [[ $(wc -l <"$WORK/$mode.ids") == "$SEED_COUNT" ]] || die "seeding $mode failed"
  # What the workloads ask must answer 200 in both modes (and warms the token cache).
  code=$(curl_as "$mode" -o /dev/null -w '%{http_code}' "${URL[$mode]}/v1/secrets?limit=10")
  [[ $code == 200 ]] || die "$mode: GET /v1/secrets answered $code"
done

# run MODE WORKLOAD CONNECTIONS THREADS: prints the RESULT line's fields.
run() {
  local mode=$1 w=$2 c=$3 t=$4 token=""
  [[ $mode == keystone ]] && token=$TOKEN
  local args=("$PROJECT")
  [[ $w == get-metadata || $w == get-payload ]] && args+=("$WORK/$mode.ids")
  BENCH_AUTH_TOKEN=$token wrk -t "$t" -c "$c" -d 2s -s "$WRK_DIR/$w.lua" "${URL[$mode]}" \
    -- "${args[@]}" >/dev/null 2>&1
  BENCH_AUTH_TOKEN=$token wrk -t "$t" -c "$c" -d "${duration}s" --timeout 10s \
    -s "$WRK_DIR/$w.lua" "${URL[$mode]}" -- "${args[@]}" >"$WORK/out" 2>&1 ||
    { cat "$WORK/out" >&2; die "wrk failed"; }
  grep '^FIRST_ERROR' "$WORK/out" >&2 && die "$mode/$w: non-2xx answers"
  grep '^RESULT ' "$WORK/out" | head -1 | sed 's/^RESULT //'
}

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

printf '\n%-13s %-9s %12s %12s %12s\n' workload mode "p50 (c=1)" "p99 (c=1)" "rps (c=$connections)"
summary=()
for w in "${workloads[@]}"; do
  declare -A P50=() RPS=()
  for mode in trusted keystone; do
    lat=$(run "$mode" "$w" 1 1)
    thr=$(run "$mode" "$w" "$connections" 2)
    P50[$mode]=$(field "$lat" p50_ms)
    RPS[$mode]=$(field "$thr" rps_2xx)
    printf '%-13s %-9s %9s ms %9s ms %12s\n' "$w" "$mode" "${P50[$mode]}" \
      "$(field "$lat" p99_ms)" "${RPS[$mode]}"
  done
  summary+=("$(python3 -c "import sys; t,k,rt,rk=map(float,sys.argv[1:]); \
print('%-13s keystone adds %.3f ms to the median request; throughput keystone/trusted = %.2fx' \
% ('$w', k-t, rk/rt))" "${P50[trusted]}" "${P50[keystone]}" "${RPS[trusted]}" "${RPS[keystone]}")")
done
echo
printf '%s\n' "${summary[@]}"
