#!/usr/bin/env bash
# What the tamper-evident audit chain costs a request: audited payload reads against Coffer
# instances in the same run —
#   none       no event instance (unaudited reads)
#   unchained  an audit_log instance (every phase) in a build whose log lines carry no hash
#              chain (feature audit_log/bench-unchained, built into target/bench-unchained)
#   chained    the same instance in the normal build: SHA-256 chain
#   keyed      the same with a chain key: HMAC-SHA256 chain
# Every read is audited twice (`before` and `success`), so the chain is paid twice per request.
#
# Usage: bench/audit.sh [--duration SECS] [--rounds N] [--connections N] [--fsync] [--no-build]
#
#   --duration SECS   measured seconds per target and round (default 10)
#   --rounds N        rounds; each runs every target once, in turn (default 3). Audited
#                     throughput varies by ±10% from run to run (a mutex, write syscalls and
#                     blocking-pool hops per event), so the report gives medians over rounds,
#                     and the server's CPU time per request, which varies much less.
#   --connections N   wrk connections (default 32)
#   --fsync           the audit log syncs every line (its default). Without it the log writes
#                     without fsync, which leaves the chain's CPU cost most visible.
#   --no-build        use the binaries already built
#
# The report gives each target's rate and the ratios chained/unchained and keyed/unchained
# (the cost of the chain) and unchained/none (the cost of auditing at all). Everything runs on
# loopback; everything started is stopped by PID.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
WRK_DIR="$BENCH_DIR/wrk"
SEED_COUNT=100
PAYLOAD_B64='AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8='
CREATE_BODY='{"payload": "'"$PAYLOAD_B64"'", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}'
PROJECT=bench-audit

duration=10
rounds=3
connections=32
fsync=false
build=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --fsync) fsync=true; shift ;;
    --no-build) build=0; shift ;;
    *) echo "usage: $0 [--duration SECS] [--rounds N] [--connections N] [--fsync] [--no-build]" >&2
       exit 2 ;;
  esac
done

log() { echo "bench: $*" >&2; }
die() { echo "bench: ERROR: $*" >&2; exit 1; }
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y wrk curl python3)"
done

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
UNCHAINED_TARGET=$TARGET/bench-unchained
if (( build )); then
  log "building Coffer (release)"
  (cd "$ROOT" && cargo build --release --quiet --bin coffer)
  log "building Coffer without the audit chain (release, $UNCHAINED_TARGET)"
  (cd "$ROOT" && CARGO_TARGET_DIR=$UNCHAINED_TARGET \
    cargo build --release --quiet --bin coffer --features audit_log/bench-unchained)
fi
declare -A BIN=([none]=$TARGET/release/coffer [unchained]=$UNCHAINED_TARGET/release/coffer
                [chained]=$TARGET/release/coffer [keyed]=$TARGET/release/coffer)
for b in "${BIN[@]}"; do [[ -x "$b" ]] || die "no binary at $b"; done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-bench-audit.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  if (( rc == 0 )); then rm -rf "$WORK"; else log "failed; logs kept in $WORK"; fi
}
trap cleanup EXIT

idle=$(python3 - <<'EOF'
import time
def busy():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f) - f[3] - f[4], sum(f)
b0, t0 = busy(); time.sleep(2); b1, t1 = busy()
import os
print("%.2f" % ((b1 - b0) / (t1 - t0) * os.cpu_count()))
EOF
)
log "machine busy before the run: $idle cores"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

declare -A URL=() PID=()
start_coffer() {
  local mode=$1 port dir
  port=$(free_port)
  dir="$WORK/$mode"
  mkdir -p "$dir/data"
  : >"$dir/coffer.toml"
  if [[ $mode != none ]]; then
    cat >>"$dir/coffer.toml" <<TOML
[events.audit]
plugin = "audit_log"
on = ["before", "success", "failure"]
[events.audit.settings]
path = "$dir/audit.jsonl"
fail_closed = true
fsync = $fsync
TOML
  fi
  if [[ $mode == keyed ]]; then
    head -c 32 /dev/urandom | base64 >"$dir/chain.key"
    echo "chain_key_file = \"$dir/chain.key\"" >>"$dir/coffer.toml"
  fi
  (cd "$dir" && exec env -u RUST_LOG COFFER_CONFIG="$dir/coffer.toml" \
    COFFER__SERVER__BIND="127.0.0.1:$port" COFFER__SERVER__DATA_DIR="$dir/data" \
    COFFER__DATABASE__URL="sqlite://$dir/data/coffer.db" COFFER__LOGGING__LEVEL=warn \
    "${BIN[$mode]}" serve) </dev/null >"$dir/coffer.log" 2>&1 &
  PIDS+=($!)
  PID[$mode]=$!
  URL[$mode]="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "${URL[$mode]}/" && return 0
    sleep 0.1
  done
  tail -20 "$dir/coffer.log" >&2
  die "coffer ($mode) did not start"
}

MODES=(none unchained chained keyed)
for mode in "${MODES[@]}"; do
  start_coffer "$mode"
  : >"$WORK/$mode.ids"
  for ((i = 0; i < SEED_COUNT; i++)); do
    curl -s --max-time 30 -H "X-Project-Id: $PROJECT" -H 'Content-Type: application/json' \
      --data-binary "$CREATE_BODY" "${URL[$mode]}/v1/secrets" |
      grep -o '/secrets/[0-9a-f-]*' | sed 's#/secrets/##' >>"$WORK/$mode.ids"
  done
  [[ $(wc -l <"$WORK/$mode.ids") == "$SEED_COUNT" ]] || die "seeding $mode failed"
done

# The chained logs must verify, the unchained one must not carry a chain.
check_logs() {
  "${BIN[chained]}" audit verify "$WORK/chained/audit.jsonl" >/dev/null ||
    die "the chained audit log does not verify"
  "${BIN[chained]}" audit verify --key-file "$WORK/keyed/chain.key" "$WORK/keyed/audit.jsonl" \
    >/dev/null || die "the keyed audit log does not verify"
  grep -q '"hash"' <(sed -n 2p "$WORK/unchained/audit.jsonl") &&
    die "the unchained build wrote chained lines"
  return 0
}

# CPU seconds (user + system) the process has used.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

# run MODE: prints "RPS CPU_US_PER_REQUEST".
run() {
  local mode=$1 before after
  wrk -t 2 -c "$connections" -d 2s -s "$WRK_DIR/get-payload.lua" "${URL[$mode]}" \
    -- "$PROJECT" "$WORK/$mode.ids" >/dev/null 2>&1
  before=$(cpu_seconds "${PID[$mode]}")
  wrk -t 2 -c "$connections" -d "${duration}s" --timeout 10s -s "$WRK_DIR/get-payload.lua" \
    "${URL[$mode]}" -- "$PROJECT" "$WORK/$mode.ids" >"$WORK/out" 2>&1 ||
    { cat "$WORK/out" >&2; die "wrk failed"; }
  after=$(cpu_seconds "${PID[$mode]}")
  grep '^FIRST_ERROR' "$WORK/out" >&2 && die "$mode: non-2xx answers"
  local result rps
  result=$(grep '^RESULT ' "$WORK/out" | head -1 | sed 's/^RESULT //')
  rps=$(field "$result" rps_2xx)
  python3 -c "print('$rps', round(($after - $before) / (float('$rps') * $duration) * 1e6, 1))"
}
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

printf '\nget-payload, %s connections, audit fsync=%s, %s rounds of %s s\n' "$connections" \
  "$fsync" "$rounds" "$duration"
: >"$WORK/results"
for ((round = 1; round <= rounds; round++)); do
  for mode in "${MODES[@]}"; do
    echo "$mode $(run "$mode")" >>"$WORK/results"
  done
done
check_logs
python3 - "$WORK/results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    mode, rps, cpu = line.split()
    rows.setdefault(mode, []).append((float(rps), float(cpu)))
print("%-10s %10s %-26s %16s" % ("target", "rps", "(each round)", "CPU us/request"))
med = {}
for mode in ["none", "unchained", "chained", "keyed"]:
    rps = [r for r, _ in rows[mode]]
    cpu = [c for _, c in rows[mode]]
    med[mode] = (statistics.median(rps), statistics.median(cpu))
    print("%-10s %10.0f %-26s %16.1f" % (mode, med[mode][0],
          "(" + " ".join("%.0f" % r for r in rps) + ")", med[mode][1]))
print("(medians over the rounds)")
print()
for mode, what in [("chained", "SHA-256 chain"), ("keyed", "HMAC-SHA256 chain")]:
    print("%-7s / unchained: throughput %.3f, CPU per request %.3f  (the %s)"
          % (mode, med[mode][0] / med["unchained"][0], med[mode][1] / med["unchained"][1], what))
print("unchained / none:    throughput %.3f, CPU per request %.3f  (auditing every read twice)"
      % (med["unchained"][0] / med["none"][0], med["unchained"][1] / med["none"][1]))
EOF
