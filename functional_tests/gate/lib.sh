# Shared steps of the gate profiles (sourced, not run). A profile is an executable script in
# this directory that sources this file, declares the plugins it gates in a `# plugins:` line,
# and runs its own set-up, start, suite and stop steps:
#
#   gate_setup        python venv with the suite's requirements; temp dir; cleanup on exit
#   start_coffer NAME DATABASE_URL [CONFIG]   a `coffer serve` on a free loopback port
#                     (sets $url, $log); stopped by PID at exit
#   run_suite LABEL [PYTEST ARGS]             the functional suite against $COFFER_URL
#   on_exit CMD...    one more cleanup step (run in reverse order, also on failure)
#
# Environment: COFFER_BIN (default target/debug/coffer; nothing is built here).

gate_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
coffer_bin=${COFFER_BIN:-$gate_root/target/debug/coffer}
_gate_pids=()
_gate_exit=()

on_exit() {
    _gate_exit+=("$*")
}

_gate_cleanup() {
    local rc=$? i pid
    for pid in "${_gate_pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            wait "$pid" 2>/dev/null || true
        fi
    done
    for ((i = ${#_gate_exit[@]} - 1; i >= 0; i--)); do
        eval "${_gate_exit[$i]}" || true
    done
    [[ -n "${tmp:-}" ]] && rm -rf "$tmp"
    exit "$rc"
}

gate_setup() {
    [[ -x "$coffer_bin" ]] || { echo "gate: no coffer binary at $coffer_bin (cargo build first)" >&2; exit 1; }
    local venv="$gate_root/.venv"
    if [[ ! -x "$venv/bin/python" ]]; then
        python3 -m venv "$venv"
    fi
    if ! "$venv/bin/python" -c 'import pytest, requests, barbicanclient' 2>/dev/null \
        || [[ "$gate_root/functional_tests/requirements.txt" -nt "$venv/.installed" ]]; then
        "$venv/bin/pip" install --quiet --upgrade pip
        "$venv/bin/pip" install --quiet -r "$gate_root/functional_tests/requirements.txt"
        touch "$venv/.installed"
    fi
    py="$venv/bin/python"
    tmp=$(mktemp -d)
    trap _gate_cleanup EXIT
}

free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_coffer() {
    local name=$1 database=$2 config=${3:-} port pid
    port=$(free_port)
    mkdir -p "$tmp/$name"
    log="$tmp/$name/coffer.log"
    url="http://127.0.0.1:$port"
    (
        [[ -n "$config" ]] && export COFFER_CONFIG="$config"
        export COFFER__SERVER__BIND="127.0.0.1:$port"
        export COFFER__SERVER__DATA_DIR="$tmp/$name/data"
        export COFFER__DATABASE__URL="$database"
        exec "$coffer_bin" serve
    ) >"$log" 2>&1 &
    pid=$!
    _gate_pids+=("$pid")
    for _ in $(seq 1 150); do
        if "$py" -c "import urllib.request; urllib.request.urlopen('$url/openapi.json', timeout=1)" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "coffer ($name) exited during start-up:"; cat "$log"; exit 1
        fi
        sleep 0.1
    done
    echo "coffer ($name) did not answer"; tail -50 "$log"; exit 1
}

run_suite() {
    local label=$1; shift
    echo "== $label against $COFFER_URL"
    if ! (cd "$gate_root" && "$py" -m pytest -q "$@" functional_tests); then
        [[ -n "${log:-}" ]] && { echo "--- coffer log (last 50 lines)"; tail -50 "$log"; }
        exit 1
    fi
}
