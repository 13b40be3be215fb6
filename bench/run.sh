#!/usr/bin/env bash
# Benchmark Coffer against a reference OpenStack Barbican 23.0.0 on this machine (loopback only).
#
# Usage: bench/run.sh [--coffer-only] [--no-ceiling] [--duration SECS] [--connections N]
#                     [--threads N] [--warmup SECS] [--workloads LIST] [--keep] [--no-build]
#                     [--compare-observability | --compare-with REV] [--rounds N]
#
#   --coffer-only     measure Coffer (and the ceiling) without Barbican: no Barbican venv
#   --no-ceiling      skip the ceiling target: a bare actix-web server (bench/ceiling, the same
#                     actix-web and tokio, the same worker count) answering the same routes with
#                     fixed bodies; by default it is measured after Coffer and the report gives
#                     Coffer / ceiling per workload, the share of its own web stack's throughput
#                     Coffer reaches
#   --compare-observability
#                     no Barbican: two Coffer servers, "on" (defaults: Prometheus metrics and the
#                     access log) and "off" (server.metrics = false, logging.access = false),
#                     measured on, off, off, on for each workload; prints the cost of
#                     observability, 1 - (on req/s) / (off req/s), from the means of all passes;
#                     --rounds N repeats the on, off, off, on sequence N times (default 1)
#   --compare-with REV
#                     no Barbican: this checkout ("head") against the git revision REV ("base",
#                     built in a temporary worktree, its target directory kept in
#                     target/bench-base), both with defaults, measured head, base, base, head
#                     for each workload (--rounds N repeats the sequence); prints head / base
#                     from the means of all passes: a change's cost or gain, side by side
#   --duration SECS   measured seconds per workload and target (default 10)
#   --connections N   concurrent wrk connections (default 32)
#   --threads N       wrk threads (default 2)
#   --warmup SECS     unmeasured wrk run before each measured one (default 3)
#   --workloads LIST  comma-separated subset of: get-payload,get-metadata,list,create
#                     (default: all four, in that order; create runs last so that the read
#                     workloads see a small database)
#   --keep            keep the temp dir (logs, databases, raw wrk output) after success
#   --no-build        use the Coffer binary already built instead of running cargo build
#
# Workloads (same requests, same wrk settings for both targets):
#   create        POST /v1/secrets, 32-byte base64 octet-stream payload (durable write)
#   get-payload   GET /v1/secrets/{id}/payload, Accept: application/octet-stream
#   get-metadata  GET /v1/secrets/{id}, Accept: application/json
#   list          GET /v1/secrets?limit=10
# Each read workload first seeds 100 secrets into a project of its own; get-payload and
# get-metadata read those 100 round-robin, list always asks for the first page of that project.
#
# Environment: TMPDIR (where the temp dir, with Coffer's database, goes), CARGO (default cargo),
# CARGO_TARGET_DIR (honoured when locating the built binary), PYTHON (for the Barbican venv,
# default python3.11), XDG_CACHE_HOME (venv cache location).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
WRK_DIR="$BENCH_DIR/wrk"
SEED_COUNT=100
PAYLOAD_B64='AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8='
CREATE_BODY='{"payload": "'"$PAYLOAD_B64"'", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}'
ALL_WORKLOADS=(get-payload get-metadata list create)

coffer_only=0
ceiling=1
observability=0
base_rev=""
rounds=1
duration=10
connections=32
threads=2
warmup=3
keep=0
build=1
workloads=("${ALL_WORKLOADS[@]}")

die() {
  echo "bench: ERROR: $*" >&2
  exit 1
}
log() {
  echo "bench: $*" >&2
}
is_uint() {
  [[ "$1" =~ ^[0-9]+$ ]]
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --coffer-only) coffer_only=1; shift ;;
    --no-ceiling) ceiling=0; shift ;;
    --compare-observability) observability=1; coffer_only=1; ceiling=0; shift ;;
    --compare-with) base_rev=${2:-}; coffer_only=1; ceiling=0; shift 2 || die "--compare-with needs a revision" ;;
    --rounds) rounds=${2:-}; shift 2 || die "--rounds needs a value" ;;
    --duration) duration=${2:-}; shift 2 || die "--duration needs a value" ;;
    --connections) connections=${2:-}; shift 2 || die "--connections needs a value" ;;
    --threads) threads=${2:-}; shift 2 || die "--threads needs a value" ;;
    --warmup) warmup=${2:-}; shift 2 || die "--warmup needs a value" ;;
    --workloads) IFS=, read -r -a workloads <<<"${2:-}"; shift 2 || die "--workloads needs a value" ;;
    --keep) keep=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (try --help)" ;;
  esac
done
if ! is_uint "$rounds" || (( rounds == 0 )); then die "--rounds must be a positive integer"; fi
if [[ -n "$base_rev" ]]; then
  (( observability == 0 )) || die "--compare-observability and --compare-with measure different things; pick one"
  git -C "$ROOT" rev-parse --verify --quiet "$base_rev^{commit}" >/dev/null ||
    die "--compare-with: '$base_rev' is not a commit of this repository"
fi
if ! is_uint "$duration" || (( duration == 0 )); then die "--duration must be a positive integer"; fi
if ! is_uint "$connections" || (( connections == 0 )); then die "--connections must be a positive integer"; fi
if ! is_uint "$threads" || (( threads == 0 )); then die "--threads must be a positive integer"; fi
is_uint "$warmup" || die "--warmup must be a non-negative integer"
(( connections >= threads )) || die "--connections must be at least --threads"
for w in "${workloads[@]}"; do
  case " ${ALL_WORKLOADS[*]} " in
    *" $w "*) ;;
    *) die "unknown workload '$w' (known: ${ALL_WORKLOADS[*]})" ;;
  esac
done

for tool in wrk curl python3 "${CARGO:-cargo}"; do
  command -v "$tool" >/dev/null ||
    die "$tool not found${tool/wrk/ (apt-get install -y wrk)}"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-bench.XXXXXX")
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)

# ---------------------------------------------------------------------------------------------
# Process bookkeeping: everything we start is stopped by PID on exit, success or not.
declare -a STARTED_PIDS=()
WRK_PID=""  # the wrk run in progress, if any

alive() {
  local pid=$1 state
  [[ -r "/proc/$pid/stat" ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ "$state" != Z && "$state" != X ]]
}

stop_pid() {
  local pid=$1 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  log "pid $pid did not stop after SIGTERM within 10 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  # A gunicorn that barbican-reference.sh started but had no chance to report (interrupted
  # start-up) is found through its pid file; only a process that still is a gunicorn is stopped.
  if [[ -f "$WORK/barbican/gunicorn.pid" ]]; then
    pid=$(cat "$WORK/barbican/gunicorn.pid" 2>/dev/null || true)
    if is_uint "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q gunicorn; then
      STARTED_PIDS+=("$pid")
    fi
  fi
  [[ -n "$WRK_PID" ]] && stop_pid "$WRK_PID"
  for pid in "${STARTED_PIDS[@]}"; do
    stop_pid "$pid"
  done
  wait 2>/dev/null || true
  if [[ -d "$WORK/base-src" ]]; then
    git -C "$ROOT" worktree remove --force "$WORK/base-src" 2>/dev/null || true
  fi
  if (( rc != 0 )); then
    log "failed (exit $rc); logs and data kept in $WORK"
  elif (( keep )); then
    log "temp dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_log() {
  local name=$1 file=$2
  echo "---- last 80 lines of $name log ($file) ----" >&2
  tail -n 80 "$file" >&2 2>/dev/null || echo "(no log)" >&2
  echo "---- end of $name log ----" >&2
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait until an authenticated list answers 200.
wait_ready() {
  local name=$1 url=$2 pid=$3 logfile=$4 limit=$5 code=""
  local deadline=$((SECONDS + limit))
  while true; do
    alive "$pid" || { show_log "$name" "$logfile"; die "$name (pid $pid) exited during start-up"; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'X-Project-Id: bench-ready' \
      "$url/v1/secrets?limit=1" || true)
    [[ "$code" == 200 ]] && return 0
    if (( SECONDS > deadline )); then
      show_log "$name" "$logfile"
      die "$name did not answer GET /v1/secrets with 200 within $limit s (last status: $code)"
    fi
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------------------------
# Targets: name -> URL, PID, log.
declare -A URL=() PID=() LOGF=() BIN=()
TARGETS=(coffer)
(( ceiling )) && TARGETS+=(ceiling)
(( coffer_only )) || TARGETS+=(barbican)

# start_coffer [NAME [ENV=VALUE...]]: a Coffer server known as NAME (default coffer), with extra
# environment (settings as COFFER__* variables).
start_coffer() {
  local name=${1:-coffer}
  (( $# > 0 )) && shift
  if (( build )); then
    build=0
    log "building Coffer (cargo build --release --bin coffer)"
    (cd "$ROOT" && "${CARGO:-cargo}" build --release --bin coffer) >"$WORK/cargo-build.log" 2>&1 ||
      { tail -n 40 "$WORK/cargo-build.log" >&2; die "cargo build failed"; }
  fi
  local port data target bin
  target=${CARGO_TARGET_DIR:-target}
  [[ "$target" == /* ]] || target="$ROOT/$target"
  bin=${BIN[$name]:-$target/release/coffer}
  [[ -x "$bin" ]] || die "no Coffer binary at $bin after the build"
  port=$(free_port)
  data="$WORK/$name-data"
  mkdir -p "$data"
  # Started from the temp dir so that no coffer.toml in the caller's directory is picked up.
  (cd "$WORK" && exec env -u RUST_LOG \
      COFFER__SERVER__BIND="127.0.0.1:$port" \
      COFFER__SERVER__DATA_DIR="$data" \
      COFFER__DATABASE__URL="sqlite://$data/coffer.db" \
      "$@" \
      "$bin" serve) </dev/null >"$WORK/$name.log" 2>&1 &
  PID[$name]=$!
  STARTED_PIDS+=("${PID[$name]}")
  URL[$name]="http://127.0.0.1:$port"
  LOGF[$name]="$WORK/$name.log"
  wait_ready "$name" "${URL[$name]}" "${PID[$name]}" "${LOGF[$name]}" 30
  log "Coffer '$name' ready at ${URL[$name]} (pid ${PID[$name]})"
}

# start_ceiling: the bare actix-web server of bench/ceiling on a free port.
start_ceiling() {
  log "building the ceiling server (cargo build --release -p ceiling_bench)"
  (cd "$ROOT" && "${CARGO:-cargo}" build --release -p ceiling_bench) >"$WORK/cargo-build-ceiling.log" 2>&1 ||
    { tail -n 40 "$WORK/cargo-build-ceiling.log" >&2; die "cargo build of bench/ceiling failed"; }
  local target port
  target=${CARGO_TARGET_DIR:-target}
  [[ "$target" == /* ]] || target="$ROOT/$target"
  port=$(free_port)
  "$target/release/ceiling_bench" "127.0.0.1:$port" </dev/null >"$WORK/ceiling.log" 2>&1 &
  PID[ceiling]=$!
  STARTED_PIDS+=("${PID[ceiling]}")
  URL[ceiling]="http://127.0.0.1:$port"
  LOGF[ceiling]="$WORK/ceiling.log"
  wait_ready ceiling "${URL[ceiling]}" "${PID[ceiling]}" "${LOGF[ceiling]}" 30
  log "ceiling ready at ${URL[ceiling]} (pid ${PID[ceiling]})"
}

# build_base REV: build Coffer as of REV in a temporary worktree; BIN[base] is the binary.
build_base() {
  local rev=$1 target="$ROOT/target/bench-base"
  log "building Coffer at $rev (worktree in $WORK/base-src, target dir $target)"
  git -C "$ROOT" worktree add --detach --quiet "$WORK/base-src" "$rev" ||
    die "could not check out $rev in a worktree"
  (cd "$WORK/base-src" && CARGO_TARGET_DIR="$target" "${CARGO:-cargo}" build --release --bin coffer) \
    >"$WORK/cargo-build-base.log" 2>&1 ||
    { tail -n 40 "$WORK/cargo-build-base.log" >&2; die "cargo build of $rev failed"; }
  BIN[base]="$target/release/coffer"
}

start_barbican() {
  log "starting reference Barbican (bench/barbican-reference.sh)"
  local out
  if ! out=$("$BENCH_DIR/barbican-reference.sh" --workdir "$WORK/barbican" --workers "$NCPU"); then
    die "bench/barbican-reference.sh failed"
  fi
  local line
  while IFS= read -r line; do
    case "$line" in
      BARBICAN_URL=*) URL[barbican]=${line#BARBICAN_URL=} ;;
      BARBICAN_PID=*) PID[barbican]=${line#BARBICAN_PID=} ;;
      BARBICAN_LOG=*) LOGF[barbican]=${line#BARBICAN_LOG=} ;;
    esac
  done <<<"$out"
  [[ -n "${URL[barbican]:-}" && -n "${PID[barbican]:-}" ]] ||
    die "bench/barbican-reference.sh did not report BARBICAN_URL/BARBICAN_PID: $out"
  STARTED_PIDS+=("${PID[barbican]}")
  wait_ready barbican "${URL[barbican]}" "${PID[barbican]}" "${LOGF[barbican]}" 30
  log "Barbican ready at ${URL[barbican]} (gunicorn master pid ${PID[barbican]}, $NCPU sync workers)"
}

check_alive() {
  local t=$1
  alive "${PID[$t]}" || { show_log "$t" "${LOGF[$t]}"; die "$t (pid ${PID[$t]}) died"; }
}

# ---------------------------------------------------------------------------------------------
# Requests outside wrk: seeding and one checked request per workload before measuring.

# http METHOD URL PROJECT ACCEPT [BODY] -> writes body to $WORK/last.body, prints status.
http() {
  local method=$1 url=$2 project=$3 accept=$4 body=${5:-}
  local args=(-s -o "$WORK/last.body" -w '%{http_code}' --max-time 30 -X "$method"
    -H "X-Project-Id: $project" -H "Accept: $accept")
  if [[ -n "$body" ]]; then
    args+=(-H 'Content-Type: application/json' --data-binary "$body")
  fi
  curl "${args[@]}" "$url" || echo "curl-failed"
}

fail_request() {
  local t=$1 what=$2 status=$3
  echo "---- response body ----" >&2
  head -c 2000 "$WORK/last.body" >&2 2>/dev/null || true
  echo >&2
  show_log "$t" "${LOGF[$t]}"
  die "$t: $what answered $status"
}

# seed TARGET PROJECT IDFILE: create SEED_COUNT secrets, write their ids.
seed() {
  local t=$1 project=$2 idfile=$3 i status ref
  : >"$idfile"
  for ((i = 0; i < SEED_COUNT; i++)); do
    status=$(http POST "${URL[$t]}/v1/secrets" "$project" application/json "$CREATE_BODY")
    [[ "$status" == 201 ]] || fail_request "$t" "seeding POST /v1/secrets" "$status"
    ref=$(grep -o '"secret_ref": *"[^"]*"' "$WORK/last.body" | sed 's/.*\/secrets\///; s/"$//')
    [[ "$ref" =~ ^[0-9a-f-]{36}$ ]] || fail_request "$t" "seeding POST (no secret_ref)" "$status"
    echo "$ref" >>"$idfile"
  done
}

# check_workload TARGET WORKLOAD PROJECT IDFILE: one request, status and body checked.
check_workload() {
  local t=$1 w=$2 project=$3 idfile=$4 id status
  local base=${URL[$t]}
  case "$w" in
    create)
      status=$(http POST "$base/v1/secrets" "$project" application/json "$CREATE_BODY")
      if [[ "$status" != 201 ]] || ! grep -q '"secret_ref"' "$WORK/last.body"; then
        fail_request "$t" "POST /v1/secrets" "$status"
      fi
      ;;
    get-payload)
      id=$(head -n 1 "$idfile")
      status=$(http GET "$base/v1/secrets/$id/payload" "$project" application/octet-stream)
      [[ "$status" == 200 ]] || fail_request "$t" "GET payload" "$status"
      [[ "$(base64 -w0 <"$WORK/last.body")" == "$PAYLOAD_B64" ]] ||
        fail_request "$t" "GET payload (wrong bytes)" "$status"
      ;;
    get-metadata)
      id=$(head -n 1 "$idfile")
      status=$(http GET "$base/v1/secrets/$id" "$project" application/json)
      if [[ "$status" != 200 ]] || ! grep -q "\"secret_ref\": *\"[^\"]*$id\"" "$WORK/last.body"; then
        fail_request "$t" "GET metadata" "$status"
      fi
      ;;
    list)
      status=$(http GET "$base/v1/secrets?limit=10" "$project" application/json)
      if [[ "$status" != 200 ]] || ! grep -q "\"total\": *${SEED_COUNT}[,}]" "$WORK/last.body"; then
        fail_request "$t" "GET /v1/secrets?limit=10 (expected total $SEED_COUNT)" "$status"
      fi
      ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# CPU accounting around a measured run.

# Ticks of user+system CPU used by PID and its direct children (gunicorn workers).
proc_ticks() {
  local pid=$1 sum=0 c t
  local pids=("$pid")
  # shellcheck disable=SC2013 # the children files hold space-separated pids
  for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
    pids+=("$c")
  done
  for c in "${pids[@]}"; do
    t=$(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)
    sum=$((sum + t))
  done
  echo "$sum"
}

# "busy iowait total" ticks of the whole machine.
machine_ticks() {
  awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, $6, t}' /proc/stat
}

now_s() {
  date +%s.%N
}

# CPU seconds (user+system) of all reaped children of this shell, from the output of `times`
# saved in FILE. `times` itself must run in this shell (`times >FILE`), not in a $(...)
# subshell, which has its own, empty, account of children.
children_cpu() {
  awk 'NR == 2 {
      n = split($0, f, " "); s = 0;
      for (i = 1; i <= n; i++) { split(f[i], ms, "m"); sub("s", "", ms[2]); s += ms[1] * 60 + ms[2] }
      printf "%.3f", s }' "$1"
}

# Busy cores of the whole machine over SECS seconds (to see whether something else is running).
machine_busy_over() {
  local a b
  a=$(machine_ticks); sleep "$1"; b=$(machine_ticks)
  awk -v a="$a" -v b="$b" -v n="$NCPU" 'BEGIN { split(a, x, " "); split(b, y, " ");
    t = y[3] - x[3]; printf "%.2f", (t > 0) ? (y[1] - x[1]) / t * n : 0 }'
}

# run_wrk OUTFILE LIMIT_SECS WRK_ARGS...: wrk in the background and `wait` for it, so that a
# SIGTERM/SIGINT to this script is handled at once (bash runs traps only between foreground
# commands) and cleanup can stop wrk too.
run_wrk() {
  local out=$1 limit=$2 rc=0
  shift 2
  timeout "$limit" wrk "$@" >"$out" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  return "$rc"
}

# ---------------------------------------------------------------------------------------------
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# measure TARGET WORKLOAD [KEY]: seed/check, warm up, measure, record one line in $RESULTS
# under KEY (default TARGET).
measure() {
  local t=$1 w=$2 key=${3:-$1}
  local project="bench-$w-$RANDOM$RANDOM"
  local idfile="$WORK/$t-$w.ids"
  local script="$WRK_DIR/$w.lua"
  local base=${URL[$t]}
  local args=("$project")

  case "$w" in
    get-payload|get-metadata|list)
      log "$t/$w: seeding $SEED_COUNT secrets into project $project"
      seed "$t" "$project" "$idfile"
      ;;
  esac
  [[ "$w" == get-payload || "$w" == get-metadata ]] && args+=("$idfile")
  check_workload "$t" "$w" "$project" "$idfile"

  local wrk_opts=(-t "$threads" -c "$connections" --timeout 10s -s "$script")
  if (( warmup > 0 )); then
    log "$t/$w: warm-up ${warmup}s"
    run_wrk "$WORK/$t-$w.warmup.out" $((warmup + 60)) "${wrk_opts[@]}" -d "${warmup}s" "$base" \
      -- "${args[@]}" ||
      { cat "$WORK/$t-$w.warmup.out" >&2; check_alive "$t"; die "$t/$w: wrk warm-up failed"; }
    check_alive "$t"
  fi

  log "$t/$w: measuring ${duration}s (-c $connections -t $threads)"
  local p0 m0 s0 c0 p1 m1 s1 c1
  p0=$(proc_ticks "${PID[$t]}"); m0=$(machine_ticks); s0=$(now_s); times >"$WORK/times.0"
  run_wrk "$WORK/$t-$w.out" $((duration + 60)) "${wrk_opts[@]}" -d "${duration}s" "$base" \
    -- "${args[@]}" ||
    { cat "$WORK/$t-$w.out" >&2; check_alive "$t"; die "$t/$w: wrk failed"; }
  times >"$WORK/times.1"
  p1=$(proc_ticks "${PID[$t]}"); m1=$(machine_ticks); s1=$(now_s)
  c0=$(children_cpu "$WORK/times.0"); c1=$(children_cpu "$WORK/times.1")
  check_alive "$t"

  local result first_error
  result=$(grep '^RESULT ' "$WORK/$t-$w.out" | head -n 1 | sed 's/^RESULT //') ||
    { cat "$WORK/$t-$w.out" >&2; die "$t/$w: no RESULT line in wrk output"; }
  first_error=$(grep '^FIRST_ERROR ' "$WORK/$t-$w.out" | head -n 1 | sed 's/^FIRST_ERROR //' |
    tr '\t' ' ' || true)

  # server CPU, wrk CPU, machine busy and the rest ("other": kernel threads, anything else
  # running) in cores; iowait in % of all CPU time.
  local cpu
  cpu=$(awk -v p0="$p0" -v p1="$p1" -v m0="$m0" -v m1="$m1" -v s0="$s0" -v s1="$s1" \
    -v c0="$c0" -v c1="$c1" -v hz="$CLK_TCK" -v n="$NCPU" 'BEGIN {
      split(m0, a, " "); split(m1, b, " ");
      el = s1 - s0; tot = b[3] - a[3];
      srv = (p1 - p0) / hz / el;
      wrk = (c1 - c0) / el;
      busy = (tot > 0) ? (b[1] - a[1]) / tot * n : 0;
      iow = (tot > 0) ? (b[2] - a[2]) / tot * 100 : 0;
      other = busy - srv - wrk; if (other < 0) other = 0;
      printf "server_cores=%.2f wrk_cores=%.2f other_cores=%.2f machine_cores=%.2f iowait_pct=%.1f",
        srv, wrk, other, busy, iow }')

  printf '%s\t%s\t%s %s\t%s\n' "$key" "$w" "$result" "$cpu" "$first_error" >>"$RESULTS"
  log "$t/$w: $(field "$result" rps_2xx) req/s (2xx), p50 $(field "$result" p50_ms) ms, p99 $(field "$result" p99_ms) ms, non-2xx $(field "$result" non2xx), $cpu"
}

# field "k=v k=v ..." KEY
field() {
  local kv
  for kv in $1; do
    [[ "$kv" == "$2="* ]] && { echo "${kv#*=}"; return 0; }
  done
  echo "-"
}

# ---------------------------------------------------------------------------------------------
idle_busy=$(machine_busy_over 2)
if awk -v b="$idle_busy" 'BEGIN { exit !(b > 0.25) }'; then
  log "WARNING: the machine is not idle: $idle_busy cores busy before starting; other processes"
  log "WARNING: compete with the servers and wrk, so the numbers will be low and noisy."
fi

# measure_abba A B: each workload measured A, B, B, A, --rounds times; run keys A-1, B-1, B-2, A-2, ...
measure_abba() {
  local a=$1 b=$2 r w key
  TARGETS=()
  for ((r = 0; r < rounds; r++)); do
    TARGETS+=("$a-$((2 * r + 1))" "$b-$((2 * r + 1))" "$b-$((2 * r + 2))" "$a-$((2 * r + 2))")
  done
  for w in "${workloads[@]}"; do
    for key in "${TARGETS[@]}"; do
      measure "${key%-*}" "$w" "$key"
    done
  done
}

if [[ -n "$base_rev" ]]; then
  build_base "$base_rev"
  start_coffer head
  start_coffer base
  measure_abba head base
elif (( observability )); then
  start_coffer on
  start_coffer off COFFER__SERVER__METRICS=false COFFER__LOGGING__ACCESS=false
  measure_abba on off
else
  start_coffer
  (( ceiling )) && start_ceiling
  (( coffer_only )) || start_barbican
  for t in "${TARGETS[@]}"; do
    for w in "${workloads[@]}"; do
      measure "$t" "$w"
    done
  done
fi

# ---------------------------------------------------------------------------------------------
# Report.
get() { # get TARGET WORKLOAD KEY
  local line
  line=$(awk -F'\t' -v t="$1" -v w="$2" '$1 == t && $2 == w {print $3}' "$RESULTS")
  [[ -n "$line" ]] && field "$line" "$3" || echo "-"
}
errors_of() { # non-2xx plus socket-level errors, e.g. "0" or "5xx:12 4xx:0 sock:3"
  local t=$1 w=$2 n s
  n=$(get "$t" "$w" non2xx)
  [[ "$n" == - ]] && { echo "-"; return; }
  s=$(( $(get "$t" "$w" connect) + $(get "$t" "$w" read) + $(get "$t" "$w" write) + $(get "$t" "$w" timeout) ))
  if (( n == 0 && s == 0 )); then
    echo 0
  else
    echo "non2xx:$n(5xx:$(get "$t" "$w" s5xx),4xx:$(get "$t" "$w" s4xx)) sock:$s"
  fi
}

commit=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
echo
echo "Coffer benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $NCPU cores, commit $commit"
echo "machine busy before the run (2 s sample, nothing of ours running): $idle_busy cores"
echo "wrk $(wrk -v 2>&1 | head -n 1 | awk '{print $2}') -t $threads -c $connections, ${duration}s measured after ${warmup}s warm-up per workload"
echo "Coffer: release build, SQLite WAL + synchronous=FULL, software AES-GCM, 2 HTTP workers (default)"
(( coffer_only )) || echo "Barbican 23.0.0: gunicorn 23.0.0, $NCPU sync workers, SQLite, store_crypto + simple_crypto"
[[ -z "$base_rev" ]] || echo "head = this checkout ($commit), base = $base_rev ($(git -C "$ROOT" rev-parse --short "$base_rev"))"
echo

echo "req/s counts 2xx responses only; errors = non-2xx responses and socket errors (connect,"
echo "read, write, timeout), which are not in req/s. Latencies are over all responses."
echo
# abba_summary WORKLOAD A B: the means over all passes of side A and of side B (run keys A-n,
# B-n), as "rpsA rpsB cpuA cpuB p99A p99B errA errB": req/s (2xx), server CPU µs per request,
# the worst p99 in ms, errors (non-2xx and socket errors) summed.
abba_summary() {
  awk -F'\t' -v w="$1" -v a="$2" -v b="$3" '
    function f(s, k,   n, i, kv) { n = split(s, kv, " ");
      for (i = 1; i <= n; i++) if (index(kv[i], k "=") == 1) return substr(kv[i], length(k) + 2);
      return 0 }
    $2 == w { side = (index($1, a "-") == 1) ? a : b; r = f($3, "rps_2xx"); c = f($3, "server_cores");
      rps[side] += r; n[side]++; if (r > 0) cpu[side] += c / r * 1e6;
      p = f($3, "p99_ms") + 0; if (p > p99[side]) p99[side] = p;
      err[side] += f($3, "non2xx") + f($3, "connect") + f($3, "read") + f($3, "write") + f($3, "timeout") }
    END { printf "%.1f %.1f %.1f %.1f %.2f %.2f %d %d\n", rps[a] / n[a], rps[b] / n[b],
      cpu[a] / n[a], cpu[b] / n[b], p99[a], p99[b], err[a], err[b] }' "$RESULTS"
}

if (( observability )); then
  echo "on = defaults (metrics + access log), off = server.metrics = false, logging.access = false;"
  echo "measured $((2 * rounds)) times each (on, off, off, on per round); cost = 1 - mean(on) / mean(off);"
  echo "CPU/req: server CPU time per answered request, mean of the runs"
  echo
  printf '%-13s | %-14s | %-14s | %7s | %-13s | %-13s | %s\n' workload "on req/s mean" \
    "off req/s mean" "cost" "on CPU/req µs" "off CPU/req µs" "errors on/off"
  printf '%s\n' "--------------+----------------+----------------+---------+---------------+---------------+--------------"
  for w in "${workloads[@]}"; do
    read -r on off cpu_on cpu_off _ _ err_on err_off < <(abba_summary "$w" on off)
    awk -v w="$w" -v on="$on" -v off="$off" -v con="$cpu_on" -v coff="$cpu_off" -v eon="$err_on" -v eoff="$err_off" \
      'BEGIN { printf "%-13s | %14.1f | %14.1f | %6.1f%% | %13.1f | %13.1f | %d / %d\n", w, on, off,
        (off > 0 ? (1 - on / off) * 100 : 0), con, coff, eon, eoff }'
  done
elif [[ -n "$base_rev" ]]; then
  echo "measured $((2 * rounds)) times each (head, base, base, head per round); ratio = mean(head) / mean(base);"
  echo "CPU/req: server CPU time per answered request, mean of the runs; p99: the worst of the runs"
  echo
  printf '%-13s | %-15s | %-15s | %6s | %-15s | %-15s | %-17s | %s\n' workload "head req/s mean" \
    "base req/s mean" "ratio" "head CPU/req µs" "base CPU/req µs" "p99 ms head/base" "errors head/base"
  printf '%s\n' "--------------+-----------------+-----------------+--------+-----------------+-----------------+-------------------+-----------------"
  for w in "${workloads[@]}"; do
    read -r h b cpu_h cpu_b p99_h p99_b err_h err_b < <(abba_summary "$w" head base)
    awk -v w="$w" -v h="$h" -v b="$b" -v ch="$cpu_h" -v cb="$cpu_b" -v ph="$p99_h" -v pb="$p99_b" \
      -v eh="$err_h" -v eb="$err_b" \
      'BEGIN { printf "%-13s | %15.1f | %15.1f | %6.3f | %15.1f | %15.1f | %8.2f / %-6.2f | %d / %d\n", w, h, b,
        (b > 0 ? h / b : 0), ch, cb, ph, pb, eh, eb }'
  done
elif (( coffer_only )); then
  printf '%-13s | %12s | %-18s | %s\n' workload "Coffer req/s" "p50 / p99 ms" "errors"
  printf '%s\n' "--------------+--------------+--------------------+-------"
  for w in "${workloads[@]}"; do
    printf '%-13s | %12s | %-18s | %s\n' "$w" "$(get coffer "$w" rps_2xx)" \
      "$(get coffer "$w" p50_ms) / $(get coffer "$w" p99_ms)" "$(errors_of coffer "$w")"
  done
else
  printf '%-13s | %12s | %14s | %8s | %-20s | %-20s | %-13s | %s\n' workload "Coffer req/s" \
    "Barbican req/s" "ratio" "Coffer p50/p99 ms" "Barbican p50/p99 ms" "Coffer errors" "Barbican errors"
  printf '%s\n' "--------------+--------------+----------------+----------+----------------------+----------------------+---------------+----------------"
  for w in "${workloads[@]}"; do
    c=$(get coffer "$w" rps_2xx); b=$(get barbican "$w" rps_2xx)
    ratio=$(awk -v c="$c" -v b="$b" 'BEGIN { if (b + 0 > 0) printf "%.1fx", c / b; else print "-" }')
    printf '%-13s | %12s | %14s | %8s | %-20s | %-20s | %-13s | %s\n' "$w" "$c" "$b" "$ratio" \
      "$(get coffer "$w" p50_ms) / $(get coffer "$w" p99_ms)" \
      "$(get barbican "$w" p50_ms) / $(get barbican "$w" p99_ms)" \
      "$(errors_of coffer "$w")" "$(errors_of barbican "$w")"
  done
fi

if (( ceiling )); then
  echo
  echo "Ceiling: a bare actix-web server (bench/ceiling: same actix-web, tokio and worker count,"
  echo "fixed bodies of Coffer's shape) on the same routes; Coffer / ceiling is the share of its own"
  echo "web stack's throughput Coffer reaches."
  echo
  printf '%-13s | %12s | %13s | %14s | %-18s | %-18s | %s\n' workload "Coffer req/s" "ceiling req/s" \
    "Coffer/ceiling" "Coffer p50/p99 ms" "ceiling p50/p99 ms" "ceiling errors"
  printf '%s\n' "--------------+--------------+---------------+----------------+--------------------+--------------------+---------------"
  for w in "${workloads[@]}"; do
    c=$(get coffer "$w" rps_2xx); x=$(get ceiling "$w" rps_2xx)
    ratio=$(awk -v c="$c" -v x="$x" 'BEGIN { if (x + 0 > 0) printf "%.2f", c / x; else print "-" }')
    printf '%-13s | %12s | %13s | %14s | %-18s | %-18s | %s\n' "$w" "$c" "$x" "$ratio" \
      "$(get coffer "$w" p50_ms) / $(get coffer "$w" p99_ms)" \
      "$(get ceiling "$w" p50_ms) / $(get ceiling "$w" p99_ms)" "$(errors_of ceiling "$w")"
  done
fi

echo
echo "CPU during the measured runs, in cores (of $NCPU); 'other' = machine busy - server - wrk"
echo "(kernel threads, anything else running on the machine); iowait in % of all CPU time:"
printf '%-13s | %-8s | %6s | %6s | %6s | %12s | %8s\n' workload target server wrk other "machine busy" "iowait %"
printf '%s\n' "--------------+----------+--------+--------+--------+--------------+---------"
for w in "${workloads[@]}"; do
  for t in "${TARGETS[@]}"; do
    printf '%-13s | %-8s | %6s | %6s | %6s | %12s | %8s\n' "$w" "$t" \
      "$(get "$t" "$w" server_cores)" "$(get "$t" "$w" wrk_cores)" "$(get "$t" "$w" other_cores)" \
      "$(get "$t" "$w" machine_cores)" "$(get "$t" "$w" iowait_pct)"
  done
done

noisy=$(awk -F'\t' '{ if (match($3, /other_cores=[0-9.]+/)) { v = substr($3, RSTART + 12, RLENGTH - 12);
    if (v + 0 > 0.25) printf "  %s/%s: %s cores\n", $1, $2, v } }' "$RESULTS")
if [[ -n "$noisy" ]]; then
  echo
  echo "WARNING: something else used the CPU during these runs ('other' > 0.25 cores);"
  echo "their numbers are low and should be measured again on an idle machine:"
  echo "$noisy"
fi

if awk -F'\t' '$4 != "" {found = 1} END {exit !found}' "$RESULTS"; then
  echo
  echo "First non-2xx response seen per run:"
  awk -F'\t' '$4 != "" {printf "  %s/%s: %s\n", $1, $2, $4}' "$RESULTS"
fi

echo
echo "Raw results (one line per run):"
awk -F'\t' '{printf "  %s %s %s\n", $1, $2, $3}' "$RESULTS"
