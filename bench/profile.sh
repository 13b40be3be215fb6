#!/usr/bin/env bash
# Where Coffer's time goes on one workload: a release Coffer on a free loopback port, 100 seeded
# secrets, wrk on the workload (bench/wrk/WORKLOAD.lua, 32 connections), and `perf record`
# sampling the server's CPU clock (a software event: it works where hardware counters are not
# exposed) during the measured seconds; prints perf's flat profile (self time per symbol).
#
#   bench/profile.sh [WORKLOAD] [SECONDS]     WORKLOAD: get-payload (default), get-metadata,
#                                             list, create; SECONDS: measured (default 10)
#   TOP=N bench/profile.sh ...                 print the N hottest symbols (default 40)
#
# Needs perf (Debian's linux-perf) and wrk; perf_event_paranoid must allow profiling a process
# of one's own (at most 2). Everything started is stopped by PID; the temp dir is removed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
workload=${1:-get-payload}
seconds=${2:-10}
[[ -f "$ROOT/bench/wrk/$workload.lua" ]] || { echo "profile: unknown workload '$workload'" >&2; exit 2; }
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "profile: SECONDS must be a positive integer" >&2; exit 2; }
for tool in perf wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "profile: $tool not found" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-profile.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$ROOT" && cargo build --release --bin coffer) >"$WORK/build.log" 2>&1 ||
    { tail -n 30 "$WORK/build.log" >&2; exit 1; }
bin="${CARGO_TARGET_DIR:-$ROOT/target}/release/coffer"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
(cd "$WORK" && exec env -u RUST_LOG COFFER__SERVER__BIND="127.0.0.1:$port" \
    COFFER__SERVER__DATA_DIR="$WORK" COFFER__DATABASE__URL="sqlite://$WORK/coffer.db" \
    "$bin" serve) </dev/null >"$WORK/coffer.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 150); do
    curl -sf -o /dev/null -H 'X-Project-Id: profile' "$url/v1/secrets?limit=1" && break
    sleep 0.2
done

project="profile-$workload"
body='{"payload": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}'
for _ in $(seq 100); do
    curl -sf -X POST -H "X-Project-Id: $project" -H 'Content-Type: application/json' \
        -d "$body" "$url/v1/secrets" | grep -o '"secret_ref": *"[^"]*"' | sed 's/.*\/secrets\///; s/"$//'
done >"$WORK/ids"
[[ $(wc -l <"$WORK/ids") -eq 100 ]] || { echo "profile: seeding failed" >&2; tail "$WORK/coffer.log" >&2; exit 1; }

# Warm up, then sample the server while wrk runs.
wrk -t2 -c32 -d3s -s "$ROOT/bench/wrk/$workload.lua" "$url" -- "$project" "$WORK/ids" >/dev/null
wrk -t2 -c32 -d"$((seconds + 2))s" -s "$ROOT/bench/wrk/$workload.lua" "$url" -- "$project" "$WORK/ids" \
    >"$WORK/wrk.txt" &
load=$!
pids+=("$load")
sleep 1
perf record -q -e cpu-clock -F 999 -p "$server" -o "$WORK/perf.data" -- sleep "$seconds" 2>"$WORK/perf.log" ||
    { cat "$WORK/perf.log" >&2; exit 1; }
wait "$load"

echo "Coffer $(git -C "$ROOT" describe --always --dirty), workload $workload, ${seconds}s sampled at 999 Hz (cpu-clock)"
grep -E "Requests/sec|Latency" "$WORK/wrk.txt"
echo
# Flat profile: self time per symbol, padding trimmed, long (generic) names cut at 140 columns.
perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' |
    cut -c1-140 | head -n "${TOP:-40}"
