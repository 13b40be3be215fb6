#!/usr/bin/env bash
# Start a reference OpenStack Barbican 23.0.0 on loopback for benchmarking Coffer against it.
#
# Usage: bench/barbican-reference.sh [--workdir DIR] [--port PORT] [--workers N]
#
#   --workdir DIR  where the config, paste filter, SQLite DB and log go (default: a new temp dir)
#   --port PORT    loopback port (default: a free one)
#   --workers N    gunicorn sync worker processes (default: 2, one per core)
#
# What it runs: barbican==23.0.0 from PyPI in a cached venv
# (${XDG_CACHE_HOME:-$HOME/.cache}/coffer-bench/barbican-23.0.0, created on first use), served by
# gunicorn (sync workers) through Barbican's paste app factories with the *unauthenticated*
# pipeline: the project comes from X-Project-Id, like Coffer's trusted-headers mode. Storage is
# SQLite in the work dir; secrets go through store_crypto + simple_crypto with a fresh Fernet KEK.
#
# Barbican 23.0.0's unauthenticated context middleware reads `req.request_id`, which plain webob
# requests do not have, so every /v1 request fails with an AttributeError. The pipeline therefore
# has one extra filter of our own (bench_compat.py, written into the work dir) that exposes the
# request id set by the request_id middleware as that attribute.
#
# On success it prints, one per line, and exits 0 leaving the server running:
#   BARBICAN_URL=http://127.0.0.1:PORT
#   BARBICAN_PID=<gunicorn master pid>    (kill -TERM it to stop the master and its workers)
#   BARBICAN_LOG=<log file>
#   BARBICAN_WORKDIR=<dir>
# On failure it prints the server log to stderr, stops what it started and exits non-zero.
set -euo pipefail

BARBICAN_VERSION=23.0.0
GUNICORN_VERSION=23.0.0
PYTHON=${PYTHON:-python3.11}

workdir=""
port=""
workers=2

die() {
  echo "barbican-reference: $*" >&2
  exit 1
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --workdir) workdir=${2:?--workdir needs a value}; shift 2 ;;
    --port) port=${2:?--port needs a value}; shift 2 ;;
    --workers) workers=${2:?--workers needs a value}; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (try --help)" ;;
  esac
done

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=...)"
command -v curl >/dev/null || die "curl not found"

# ---------------------------------------------------------------------------------------------
# The cached venv, built under a lock and marked complete only after pip succeeded, so an
# interrupted install is redone rather than used.
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/coffer-bench"
venv="$cache_root/barbican-$BARBICAN_VERSION"
mkdir -p "$cache_root"
exec 9>"$cache_root/.barbican-$BARBICAN_VERSION.lock"
flock 9
if [[ ! -f "$venv/.complete" ]]; then
  echo "barbican-reference: creating venv $venv (first use; takes a few minutes)" >&2
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "barbican==$BARBICAN_VERSION" "gunicorn==$GUNICORN_VERSION" >&2; then
    rm -rf "$venv"
    die "pip install of barbican==$BARBICAN_VERSION gunicorn==$GUNICORN_VERSION failed"
  fi
  touch "$venv/.complete"
fi
flock -u 9
exec 9>&-
py="$venv/bin/python"

# ---------------------------------------------------------------------------------------------
# Work dir, port, configuration.
if [[ -z "$workdir" ]]; then
  workdir=$(mktemp -d "${TMPDIR:-/tmp}/barbican-ref.XXXXXX")
fi
mkdir -p "$workdir/home/.barbican"
workdir=$(cd "$workdir" && pwd)

if [[ -z "$port" ]]; then
  port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
url="http://127.0.0.1:$port"
log="$workdir/barbican.log"

kek=$("$py" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')

# oslo.config looks for ~/.barbican/barbican.conf first, so HOME points into the work dir.
cat > "$workdir/home/.barbican/barbican.conf" <<EOF
[DEFAULT]
host_href = $url
sql_connection = sqlite:///$workdir/barbican.sqlite
db_auto_create = True
debug = False

[oslo_policy]
enforce_new_defaults = False
enforce_scope = False

[secretstore]
enabled_secretstore_plugins = store_crypto

[crypto]
enabled_crypto_plugins = simple_crypto

[simple_crypto_plugin]
kek = $kek

[queue]
enable = False
EOF

# The request-id workaround filter (see the header of this script).
cat > "$workdir/bench_compat.py" <<'EOF'
"""Paste filter for the benchmark: give webob requests the `request_id` attribute that
Barbican 23.0.0's unauthenticated context middleware expects."""


def _make(app):
    def call(environ, start_response):
        attrs = environ.setdefault("webob.adhoc_attrs", {})
        attrs["request_id"] = environ.get("openstack.request_id")
        return app(environ, start_response)

    return call


def factory(global_conf, **local_conf):
    return _make
EOF

# Paste deployment: versions at /, the API at /v1 through the unauthenticated pipeline with the
# same middlewares a stock deployment has (cors, request_id, proxy headers, microversions),
# plus bench_compat right before the context middleware.
cat > "$workdir/paste.ini" <<'EOF'
[composite:main]
use = egg:Paste#urlmap
/: versions
/v1: api

[pipeline:versions]
pipeline = cors request_id http_proxy_to_wsgi microversion version_app

[pipeline:api]
pipeline = cors request_id http_proxy_to_wsgi bench_compat unauthenticated_context microversion api_app

[app:version_app]
paste.app_factory = barbican.api.app:create_version_app

[app:api_app]
paste.app_factory = barbican.api.app:create_main_app

[filter:unauthenticated_context]
paste.filter_factory = barbican.api.middleware.context:UnauthenticatedContextMiddleware.factory

[filter:microversion]
paste.filter_factory = barbican.api.middleware.microversion:MicroversionMiddleware.factory

[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = barbican

[filter:request_id]
paste.filter_factory = oslo_middleware.request_id:RequestId.factory

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory

[filter:bench_compat]
paste.filter_factory = bench_compat:factory
EOF

export HOME="$workdir/home"
export PYTHONPATH="$workdir${PYTHONPATH:+:$PYTHONPATH}"

# Create the schema once, in one process, so the workers do not race to create it.
if ! (cd "$workdir" && "$py" -c 'import sys
from paste import deploy
deploy.loadapp("config:" + sys.argv[1])' "$workdir/paste.ini") >"$workdir/init.log" 2>&1; then
  cat "$workdir/init.log" >&2
  die "loading the Barbican app (schema creation) failed"
fi

# Start gunicorn in the background; all its output goes to the log so that callers using
# $(...) are not kept waiting on our stdout.
(cd "$workdir" && exec "$venv/bin/gunicorn" \
    --paste "$workdir/paste.ini" \
    --bind "127.0.0.1:$port" \
    --workers "$workers" \
    --worker-class sync \
    --timeout 120 \
    --graceful-timeout 5 \
    --pid "$workdir/gunicorn.pid" \
    </dev/null >"$log" 2>&1) &
pid=$!

# Wait until an authenticated list (the whole pipeline plus the database) answers 200 (60 s).
deadline=$((SECONDS + 60))
while true; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "---- $log ----" >&2
    tail -n 60 "$log" >&2 || true
    die "gunicorn (pid $pid) exited during start-up"
  fi
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'X-Project-Id: bench-ready' \
      "$url/v1/secrets?limit=1" || true)
  if [[ "$code" == 200 ]]; then
    break
  fi
  if (( SECONDS > deadline )); then
    kill -TERM "$pid" 2>/dev/null || true
    echo "---- $log ----" >&2
    tail -n 60 "$log" >&2 || true
    die "Barbican did not answer GET /v1/secrets with 200 within 60 s (last status: $code)"
  fi
  sleep 0.3
done

echo "BARBICAN_URL=$url"
echo "BARBICAN_PID=$pid"
echo "BARBICAN_LOG=$log"
echo "BARBICAN_WORKDIR=$workdir"
