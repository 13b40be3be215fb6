"""Shared fixtures and assertion helpers for the Coffer black-box suite.

The suite talks to one live service, given by the environment variable
``COFFER_URL`` (for example ``http://127.0.0.1:9311``), over plain HTTP and
nothing else. Every test works in its own freshly named project, so tests do
not depend on an empty database, on each other, or on the order they run in.

``COFFER_AUTH`` picks how requests carry their identity: ``trusted`` (the
default) sends ``X-Project-Id`` / ``X-Roles`` / ``X-User-Id``; ``keystone``
sends a real Keystone token for the same project, roles and user instead,
made by ``keystone_identity`` from the Keystone that ``COFFER_KEYSTONE_ENV``
describes. Tests about the identity headers themselves carry the marker
``trusted_headers`` and are skipped in keystone mode; ``test_keystone.py``
runs only there.
"""
import json
import os
import re
import time
import uuid

import pytest
import requests

# ---------------------------------------------------------------------------
# Constants shared by the test modules
# ---------------------------------------------------------------------------

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
REQUEST_ID_RE = re.compile(r"^req-" + UUID4 + r"$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?$")

PRIVILEGES = "attempt not allowed - please review your user/project privileges"

# The secret metadata keys, in the order Barbican serializes them.
METADATA_KEYS = [
    "created", "updated", "status", "name", "secret_type", "expiration",
    "algorithm", "bit_length", "mode", "creator_id", "content_types",
    "secret_ref",
]
METADATA_KEYS_NO_PAYLOAD = [k for k in METADATA_KEYS if k != "content_types"]
# With microversion 1.1 and later (and in secret-consumer responses), the
# secret metadata has "consumers" right after "creator_id".
METADATA_KEYS_WITH_CONSUMERS = (
    METADATA_KEYS[:METADATA_KEYS.index("creator_id") + 1] + ["consumers"]
    + METADATA_KEYS[METADATA_KEYS.index("creator_id") + 1:])

# A container, in the order Barbican serializes it.
CONTAINER_KEYS = [
    "created", "updated", "status", "name", "type", "creator_id",
    "secret_refs", "consumers", "container_ref",
]

# The roles of Barbican's legacy policy. "reader" is a role outside them.
SERVICE_ADMIN = "key-manager:service-admin"

JSON_ONLY = ("Unexpected content type. Expected content types are: "
             "['application/json']")

ORDER_POLL_INTERVAL = 0.1  # seconds
ORDER_POLL_TIMEOUT = 30.0  # seconds

# HTTP reason phrases as Barbican (webob) writes them in the "title" field.
REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    503: "Service Unavailable",
}

_OMIT = object()

AUTH = os.environ.get("COFFER_AUTH", "").strip().lower() or "trusted"
KEYSTONE = AUTH == "keystone"
_identity = None


def keystone_broker():
    """The Keystone identity broker (keystone mode only), made on first use."""
    global _identity
    assert KEYSTONE, "keystone_broker() outside keystone mode"
    if _identity is None:
        import keystone_identity as ki
        path = os.environ.get("COFFER_KEYSTONE_ENV", "").strip()
        if not path or not os.path.isfile(path):
            pytest.fail("COFFER_AUTH=keystone needs COFFER_KEYSTONE_ENV: the "
                        "env.json written by scripts/keystone start (got %r)"
                        % path, pytrace=False)
        _identity = ki.Identity.from_env_file(path, prefetch=3)
    return _identity


def pytest_configure(config):
    if AUTH not in ("trusted", "keystone"):
        raise pytest.UsageError("COFFER_AUTH must be trusted or keystone, "
                                "not %r" % AUTH)


def pytest_unconfigure(config):
    if _identity is not None:
        _identity.close()


def pytest_terminal_summary(terminalreporter):
    if _identity is not None:
        counts = _identity.counts
        terminalreporter.write_line(
            "keystone broker: %d projects, %d users (%d of them made ahead), "
            "%d role grants, %d removals, %d tokens; %d calls, the tests "
            "waited %.0f s for them" % (
                counts["projects"], counts["users"], counts["prefetched"],
                counts["grants"], counts["removals"], counts["tokens"],
                counts["calls"], _identity.waited))


def pytest_collection_modifyitems(config, items):
    if not KEYSTONE:
        return
    skip = pytest.mark.skip(reason="about trusted identity headers, which "
                                   "keystone mode ignores")
    for item in items:
        if item.get_closest_marker("trusted_headers"):
            item.add_marker(skip)


# ---------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------

def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    assert not dupes, "duplicate JSON keys %r" % dupes
    return dict(pairs)  # dicts keep insertion (= document) order


def parse_json(resp):
    """Parse a response body as JSON, keeping the document's key order."""
    try:
        return json.loads(resp.content.decode("utf-8"),
                          object_pairs_hook=_no_duplicate_keys)
    except ValueError as exc:  # pragma: no cover - reported as a failure
        raise AssertionError("body is not JSON (%s): %r"
                             % (exc, resp.content[:300]))


def key_order(obj):
    return list(obj.keys())


def same_json_with_order(actual, expected):
    """True when two parsed JSON values are equal, key order included."""
    return (actual == expected
            and json.dumps(actual) == json.dumps(expected))


def assert_json_exact(resp, expected):
    """The body equals ``expected`` exactly, key order at every level too."""
    body = parse_json(resp)
    assert body == expected
    assert json.dumps(body) == json.dumps(expected), (
        "same content but different key order:\n got  %s\n want %s"
        % (json.dumps(body), json.dumps(expected)))
    return body


# ---------------------------------------------------------------------------
# Header helpers
# ---------------------------------------------------------------------------

def assert_request_id(resp):
    rid = resp.headers.get("x-openstack-request-id")
    assert rid is not None, "missing x-openstack-request-id"
    assert REQUEST_ID_RE.match(rid), "bad x-openstack-request-id %r" % rid


def assert_v1_headers(resp, version="1.0"):
    """Headers every /v1 response carries."""
    assert_request_id(resp)
    assert resp.headers.get("openstack-api-version") == \
        "key-manager " + version
    assert resp.headers.get("vary") == "openstack-api-version"


def assert_json_content_type(resp):
    assert resp.headers.get("content-type") == "application/json", (
        "Content-Type %r" % resp.headers.get("content-type"))


def assert_no_content(resp):
    """A 204: empty body and no Content-Type at all."""
    assert resp.status_code == 204, _describe(resp)
    assert resp.content == b""
    assert "content-type" not in resp.headers, (
        "204 must not carry Content-Type, got %r"
        % resp.headers.get("content-type"))


def _describe(resp):
    return "%s %s -> %d %r" % (resp.request.method, resp.request.url,
                               resp.status_code, resp.content[:400])


def assert_status(resp, status):
    assert resp.status_code == status, _describe(resp)


def assert_error(resp, code, description=_OMIT, *, v1=True):
    """Barbican's error shape, checked strictly.

    The body is exactly ``{"code": <int>, "title": <reason>, "description":
    <str>}`` with the keys in that order, served as ``application/json``
    with no charset. ``description`` may be a string (exact match), a
    callable (predicate) or omitted. Returns the parsed body.
    """
    assert resp.status_code == code, _describe(resp)
    assert_json_content_type(resp)
    body = parse_json(resp)
    assert isinstance(body, dict), "error body is not an object: %r" % body
    assert key_order(body) == ["code", "title", "description"], (
        "error keys %r" % key_order(body))
    assert type(body["code"]) is int and body["code"] == code
    assert body["title"] == REASONS[code]
    assert isinstance(body["description"], str)
    if callable(description):
        assert description(body["description"]), body["description"]
    elif description is not _OMIT:
        assert body["description"] == description
    if v1:
        assert_v1_headers(resp)
    else:
        assert_request_id(resp)
    return body


def denied(operation):
    """The description of a 403 from the policy layer."""
    return "%s %s" % (operation, PRIVILEGES)


def schema_error(reason, prop):
    return ("Provided object does not match schema 'Secret': %s. "
            "Invalid property: '%s'" % (reason, prop))


def schema_msg(schema, reason, prop):
    """Barbican's schema error for any validator (``schema_error`` is the
    one for 'Secret')."""
    return ("Provided object does not match schema '%s': %s. "
            "Invalid property: '%s'" % (schema, reason, prop))


# ---------------------------------------------------------------------------
# The HTTP client used by the tests
# ---------------------------------------------------------------------------

class Api:
    """A thin requests wrapper bound to a base URL and a project.

    Only the headers a test asks for are sent: no default ``Accept`` (the
    service must behave as for a client that sends none), no default
    ``Content-Type``.
    """

    def __init__(self, base, session, project):
        self.base = base
        self.session = session
        self.project = project

    def url(self, path):
        return path if path.startswith("http") else self.base + path

    def request(self, method, path, *, project=_OMIT, roles=None, user=None,
                accept=None, content_type=None, api_version=None,
                json_body=_OMIT, data=None, headers=None, params=None):
        hdrs = {}
        proj = self.project if project is _OMIT else project
        if KEYSTONE:
            # the same identity, as a token; no project, no token
            if proj is not None:
                hdrs["X-Auth-Token"] = keystone_broker().token(
                    proj, roles, user)
        else:
            if proj is not None:
                hdrs["X-Project-Id"] = proj
            if roles is not None:
                hdrs["X-Roles"] = roles
            if user is not None:
                hdrs["X-User-Id"] = user
        if accept is not None:
            hdrs["Accept"] = accept
        if api_version is not None:
            hdrs["OpenStack-API-Version"] = api_version
        body = data
        if json_body is not _OMIT:
            body = json.dumps(json_body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        if isinstance(body, str):
            body = body.encode("utf-8")
        if headers:
            hdrs.update(headers)
        return self.session.request(method, self.url(path), headers=hdrs,
                                    data=body, params=params, timeout=30,
                                    allow_redirects=False)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def creator_id(self, roles=None, user=None):
        """The ``creator_id`` Coffer records for what this client creates
        with these identity arguments: the ``X-User-Id`` (None without one)
        with trusted headers; in keystone mode the token's user, which is
        there even when the test names no user."""
        if KEYSTONE:
            return keystone_broker().acting_user(self.project, roles, user)
        return user

    def secret_ref(self, secret_id):
        return "%s/v1/secrets/%s" % (self.base, secret_id)

    # -- secrets ----------------------------------------------------------

    def create_secret(self, body=None, **kw):
        """POST a secret, insist on 201, return (id, secret_ref)."""
        if body is None:
            body = {"payload": "s3cr3t", "payload_content_type": "text/plain"}
        resp = self.post("/v1/secrets", json_body=body, **kw)
        assert_status(resp, 201)
        ref = parse_json(resp)["secret_ref"]
        return ref.rsplit("/", 1)[1], ref

    def metadata(self, secret_id, **kw):
        resp = self.get("/v1/secrets/%s" % secret_id,
                        accept=kw.pop("accept", "application/json"), **kw)
        assert_status(resp, 200)
        return parse_json(resp)

    def payload(self, secret_id, accept="application/octet-stream", **kw):
        resp = self.get("/v1/secrets/%s/payload" % secret_id, accept=accept,
                        **kw)
        assert_status(resp, 200)
        return resp.content

    # -- containers -------------------------------------------------------

    def create_container(self, body=None, **kw):
        """POST a container, insist on 201, return (id, container_ref)."""
        if body is None:
            body = {"type": "generic", "name": "c"}
        resp = self.post("/v1/containers", json_body=body, **kw)
        assert_status(resp, 201)
        ref = parse_json(resp)["container_ref"]
        return ref.rsplit("/", 1)[1], ref

    def container(self, container_id, **kw):
        resp = self.get("/v1/containers/%s" % container_id, **kw)
        assert_status(resp, 200)
        return parse_json(resp)

    # -- orders -----------------------------------------------------------

    def create_order(self, body, **kw):
        """POST an order, insist on 202, return (id, order_ref)."""
        resp = self.post("/v1/orders", json_body=body, **kw)
        assert_status(resp, 202)
        ref = parse_json(resp)["order_ref"]
        return ref.rsplit("/", 1)[1], ref

    def wait_order(self, order_id, **kw):
        """Poll an order until it is ACTIVE or ERROR; return its body.

        Barbican (``[queue] enable = False``) finishes an order before
        answering the POST; Coffer hands it to a worker, so the first GET may
        still say PENDING.
        """
        deadline = time.monotonic() + ORDER_POLL_TIMEOUT
        while True:
            resp = self.get("/v1/orders/%s" % order_id, **kw)
            assert_status(resp, 200)
            body = parse_json(resp)
            if body["status"] in ("ACTIVE", "ERROR"):
                return body
            assert body["status"] == "PENDING", body
            if time.monotonic() > deadline:
                raise AssertionError("order %s still %s after %.0f s"
                                     % (order_id, body["status"],
                                        ORDER_POLL_TIMEOUT))
            time.sleep(ORDER_POLL_INTERVAL)

    def order_to_active(self, body, **kw):
        """Submit an order and wait for it; insist on ACTIVE."""
        oid, _ = self.create_order(body, **kw)
        done = self.wait_order(oid, **kw)
        assert done["status"] == "ACTIVE", done
        return oid, done


def new_project_id():
    """A project id nobody else has used; a new Keystone project's id in
    keystone mode."""
    if KEYSTONE:
        return keystone_broker().new_project()
    return "ft-" + uuid.uuid4().hex


def new_user_id():
    """A user id nobody else has used (ACL user lists are global); a new
    Keystone user's id in keystone mode."""
    if KEYSTONE:
        return keystone_broker().new_user()
    return "ft-user-" + uuid.uuid4().hex


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def base_url():
    url = os.environ.get("COFFER_URL", "").strip()
    if not url:
        pytest.fail("COFFER_URL is not set: export COFFER_URL to the base URL "
                    "of a running Coffer, e.g. "
                    "COFFER_URL=http://127.0.0.1:9311", pytrace=False)
    url = url.rstrip("/")
    try:
        requests.get(url + "/", timeout=10)
    except requests.RequestException as exc:
        pytest.fail("cannot reach COFFER_URL=%s: %s" % (url, exc),
                    pytrace=False)
    return url


@pytest.fixture(scope="session")
def http_session():
    s = requests.Session()
    # Send nothing by default that could steer content negotiation.
    s.headers.clear()
    s.headers["User-Agent"] = "coffer-functional-tests"
    yield s
    s.close()


@pytest.fixture
def project():
    """A project id nobody else has used: unique per test."""
    return new_project_id()


@pytest.fixture
def api(base_url, http_session, project):
    return Api(base_url, http_session, project)


@pytest.fixture
def make_api(base_url, http_session):
    """Factory for clients bound to further fresh projects."""
    def factory(project=None):
        return Api(base_url, http_session, project or new_project_id())
    return factory
