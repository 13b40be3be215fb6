"""Keystone token authentication, against a real Keystone.

Runs only with ``COFFER_AUTH=keystone`` (the profile ``scripts/test-keystone``
runs): Coffer validates ``X-Auth-Token`` against the Keystone that
``COFFER_KEYSTONE_ENV`` describes, which ``scripts/keystone`` started (the
outage tests stop and restart it with ``scripts/keystone halt`` / ``resume`` /
``pause`` / ``unpause``).

Settings of the Coffer under test that the tests read from the environment:
``COFFER_KEYSTONE_CACHE_TTL`` (its ``cache_ttl_seconds``; the tests that wait
for the cache to expire are skipped without it), ``COFFER_KEYSTONE_TIMEOUT_MS``
(its ``timeout_ms``, default 10000), ``COFFER_KEYSTONE_HTTP_REQUEST_MAX_RETRIES``
(its ``http_request_max_retries``, default 3) and
``COFFER_KEYSTONE_WWW_AUTHENTICATE_URI`` (its ``www_authenticate_uri``; default
Keystone's URL without ``/v3``).

The role matrix itself is exercised with tokens by ``test_rbac.py``,
``test_rbac_all.py`` and ``test_acls.py``, through the identity broker.
"""
import base64
import datetime
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import (KEYSTONE, SERVICE_ADMIN, assert_error, assert_status,
                      denied, keystone_broker, new_project_id, new_user_id,
                      parse_json)

pytestmark = [pytest.mark.keystone,
              pytest.mark.skipif(not KEYSTONE,
                                 reason="needs COFFER_AUTH=keystone")]

UNAUTHORIZED = {"error": {
    "code": 401, "title": "Unauthorized",
    "message": "The request you have made requires authentication."}}
UNAVAILABLE = "The Keystone service is temporarily unavailable."
SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "scripts", "keystone")
PAYLOAD = {"payload": "s3cr3t", "payload_content_type": "text/plain"}


def cache_ttl():
    ttl = os.environ.get("COFFER_KEYSTONE_CACHE_TTL", "").strip()
    if not ttl:
        pytest.skip("COFFER_KEYSTONE_CACHE_TTL (Coffer's cache_ttl_seconds) "
                    "is not set")
    return float(ttl)


def timeout_seconds():
    return int(os.environ.get("COFFER_KEYSTONE_TIMEOUT_MS", "10000")) / 1000.0


def refused_seconds():
    """How long Coffer tries a Keystone that refuses connections: its retries,
    0.5 s after the first failed connect, doubling (keystoneauth's backoff)."""
    retries = int(os.environ.get("COFFER_KEYSTONE_HTTP_REQUEST_MAX_RETRIES",
                                 "3"))
    return sum(min(0.5 * 2 ** n, 60.0) for n in range(retries))


@pytest.fixture(scope="module")
def broker():
    return keystone_broker()


def www_authenticate(broker):
    uri = (os.environ.get("COFFER_KEYSTONE_WWW_AUTHENTICATE_URI", "").strip()
           or broker.env["url"])
    return 'Keystone uri="%s"' % uri


def send(api, method, path, token=None, headers=None, **kw):
    """A request with exactly the given token (or none) and headers."""
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["X-Auth-Token"] = token
    return api.request(method, path, project=None, headers=hdrs, **kw)


def assert_unauthorized(resp, broker):
    """keystonemiddleware's 401, byte for byte."""
    assert resp.status_code == 401, (resp.status_code, resp.content[:300])
    assert resp.headers.get("content-type") == \
        "application/json; charset=UTF-8"
    assert resp.headers.get("www-authenticate") == www_authenticate(broker)
    assert resp.content == json.dumps(UNAUTHORIZED).encode(), resp.content


def assert_unavailable(resp):
    assert_error(resp, 503, UNAVAILABLE, v1=False)


def keystone(command, broker):
    subprocess.run([SCRIPT, command, broker.env["dir"]], check=True,
                   stdout=subprocess.DEVNULL, timeout=120)


def user_on(broker, project, roles):
    """A new user holding ``roles`` on ``project``; returns its id."""
    user = new_user_id()
    broker.acting_user(project, roles, user)
    return user


# ---------------------------------------------------------------------------
# No token, bad tokens, identity headers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("GET", "/v1"),
    ("GET", "/v1/secrets"),
    ("POST", "/v1/secrets"),
    ("GET", "/v1/secrets/%s" % uuid.uuid4()),
    ("DELETE", "/v1/containers/%s" % uuid.uuid4()),
    ("GET", "/v1/orders"),
    ("PUT", "/v1/project-quotas/%s" % uuid.uuid4().hex),
])
def test_no_token_is_401(api, broker, method, path):
    kw = {"json_body": PAYLOAD} if method in ("POST", "PUT") else {}
    assert_unauthorized(send(api, method, path, **kw), broker)


def test_version_documents_need_no_token(api):
    assert_status(send(api, "GET", "/"), 300)
    resp = send(api, "GET", "/openapi.json")
    assert_status(resp, 200)
    assert "paths" in parse_json(resp)


def test_refused_create_creates_nothing(api, broker):
    resp = send(api, "POST", "/v1/secrets", json_body=PAYLOAD,
                headers={"X-Project-Id": api.project})
    assert_unauthorized(resp, broker)
    assert parse_json(api.get("/v1/secrets"))["total"] == 0


@pytest.mark.parametrize("token", [
    "",
    "garbage",
    # shaped like a Fernet token, signed by no key Keystone has
    "gAAAAAB" + base64.urlsafe_b64encode(os.urandom(150)).decode().rstrip("="),
])
def test_invalid_tokens_are_401(api, broker, token):
    assert_unauthorized(send(api, "GET", "/v1/secrets", token=token), broker)


def test_identity_headers_alone_are_401(api, broker):
    who = {"X-Project-Id": api.project, "X-Roles": "admin",
           "X-User-Id": new_user_id()}
    assert_unauthorized(send(api, "GET", "/v1/secrets", headers=who), broker)
    resp = send(api, "POST", "/v1/secrets", headers=who, json_body=PAYLOAD)
    assert_unauthorized(resp, broker)


def test_identity_headers_next_to_a_token_are_ignored(api, make_api, broker):
    other = make_api()
    token = broker.token(api.project, "creator")
    user = broker.acting_user(api.project, "creator")
    lies = {"X-Project-Id": other.project, "X-Roles": "admin",
            "X-User-Id": new_user_id()}
    resp = send(api, "POST", "/v1/secrets", token=token, headers=lies,
                json_body=PAYLOAD)
    assert_status(resp, 201)
    sid = parse_json(resp)["secret_ref"].rsplit("/", 1)[1]
    # the token's project and user, not the headers'
    assert api.metadata(sid)["creator_id"] == user
    assert parse_json(api.get("/v1/secrets"))["total"] == 1
    assert parse_json(other.get("/v1/secrets"))["total"] == 0
    resp = send(api, "GET", "/v1/secrets", token=token, headers=lies)
    assert parse_json(resp)["total"] == 1
    # the token's roles, not X-Roles
    observer = broker.token(api.project, "observer")
    resp = send(api, "POST", "/v1/secrets", token=observer, headers=lies,
                json_body=PAYLOAD)
    assert_error(resp, 403, denied("Secret creation"))


def test_unscoped_token_is_401(api, broker):
    user = user_on(broker, api.project, "admin")
    token, body = broker.issue(user)
    assert "project" not in body and "domain" not in body
    assert_unauthorized(send(api, "GET", "/v1/secrets", token=token), broker)


def test_domain_scoped_token_is_401(api, broker):
    user = new_user_id()
    broker.grant_domain_role(user, "admin")
    token, body = broker.issue(user, domain="default")
    assert body["domain"]["id"] == "default" and "project" not in body
    assert_unauthorized(send(api, "GET", "/v1/secrets", token=token), broker)


# ---------------------------------------------------------------------------
# What a token carries
# ---------------------------------------------------------------------------

def test_creator_id_is_the_token_user(api):
    user = new_user_id()
    sid, _ = api.create_secret(user=user)
    assert api.metadata(sid)["creator_id"] == user
    cid, _ = api.create_container(user=user)
    assert api.container(cid)["creator_id"] == user
    # without a user named, the broker's user for the project and role
    sid, _ = api.create_secret(roles="creator")
    assert api.metadata(sid)["creator_id"] == \
        keystone_broker().acting_user(api.project, "creator")


def test_implied_roles_come_with_admin(api, broker):
    token = broker.token(api.project, "admin")
    names = {r["name"] for r in broker.validate(token)["roles"]}
    assert {"admin", "member", "reader"} <= names
    assert_status(send(api, "POST", "/v1/secrets", token=token,
                       json_body=PAYLOAD), 201)


def test_role_names_match_whatever_their_case(api, broker):
    # Keystone keeps a role name as it was created; Coffer lower-cases them
    user = new_user_id()
    broker.grant_project_role(user, api.project, "CREATOR")
    token, body = broker.issue(user, api.project)
    assert [r["name"] for r in body["roles"]] == ["CREATOR"]
    # creator may create secrets, which no role outside the matrix may
    assert_status(send(api, "POST", "/v1/secrets", token=token,
                       json_body=PAYLOAD), 201)


@pytest.mark.parametrize("role", ["member", "reader"])
def test_secure_rbac_roles_mean_nothing_to_the_legacy_policy(api, role):
    resp = api.post("/v1/secrets", roles=role, json_body=PAYLOAD)
    assert_error(resp, 403, denied("Secret creation"))


def test_service_admin_token_manages_quotas(api):
    target = new_project_id()
    resp = api.put("/v1/project-quotas/%s" % target, roles=SERVICE_ADMIN,
                   json_body={"project_quotas": {"secrets": 3}})
    assert resp.status_code == 204, resp.content
    resp = api.get("/v1/project-quotas/%s" % target, roles="admin")
    assert_error(resp, 403, denied("Project Quotas"))


def test_acl_user_reads_from_another_project(api, make_api, broker):
    friend, stranger = new_user_id(), new_user_id()
    sid, _ = api.create_secret()
    resp = api.put("/v1/secrets/%s/acl" % sid, json_body={
        "read": {"users": [friend], "project-access": False}})
    assert_status(resp, 200)
    elsewhere = make_api()
    assert elsewhere.payload(sid, accept="text/plain", roles="reader",
                             user=friend) == b"s3cr3t"
    resp = elsewhere.get("/v1/secrets/%s/payload" % sid, accept="text/plain",
                         roles="admin", user=stranger)
    assert_error(resp, 403, denied("Secret payload retrieval"))


# ---------------------------------------------------------------------------
# Revoked and expired tokens
# ---------------------------------------------------------------------------

def test_revoked_token_never_used_is_refused_at_once(api, broker):
    user = user_on(broker, api.project, "admin")
    token, _ = broker.issue(user, api.project)
    broker.revoke(token)
    assert_unauthorized(send(api, "GET", "/v1/secrets", token=token), broker)


def test_revoked_token_used_before_is_refused_within_the_ttl(api, broker):
    ttl = cache_ttl()
    user = user_on(broker, api.project, "admin")
    token, _ = broker.issue(user, api.project)
    assert_status(send(api, "GET", "/v1/secrets", token=token), 200)
    broker.revoke(token)
    assert broker.validate(token) is None
    revoked = time.monotonic()
    while True:
        resp = send(api, "GET", "/v1/secrets", token=token)
        if resp.status_code != 200:
            break
        assert time.monotonic() - revoked < ttl + 1.5, (
            "revoked token still accepted %.1f s after revocation (cache "
            "TTL %g s)" % (time.monotonic() - revoked, ttl))
        time.sleep(0.25)
    assert_unauthorized(resp, broker)


def test_expired_token_is_401(api, broker):
    # A token that expires in seconds, from a real Keystone: an application
    # credential that expires then; Keystone caps the expiry of the tokens
    # issued for it at the credential's (its own default is an hour).
    user = user_on(broker, api.project, "creator")
    now = datetime.datetime.now(datetime.timezone.utc)
    cred = broker.application_credential(
        user, api.project, ["creator"], now + datetime.timedelta(seconds=3))
    used, body = broker.application_credential_token(*cred)
    unused, _ = broker.application_credential_token(*cred)
    expires = datetime.datetime.strptime(
        body["expires_at"].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc)
    assert expires <= now + datetime.timedelta(seconds=3), body["expires_at"]
    assert body["project"]["id"] == api.project
    assert body["user"]["id"] == user
    assert [r["name"] for r in body["roles"]] == ["creator"]

    # used once while valid: Coffer caches it, but never past expires_at
    assert_status(send(api, "GET", "/v1/secrets", token=used), 200)
    wait = (expires - datetime.datetime.now(datetime.timezone.utc)
            ).total_seconds() + 0.5
    time.sleep(max(wait, 0))
    assert broker.validate(used) is None
    assert_unauthorized(send(api, "GET", "/v1/secrets", token=used), broker)
    assert_unauthorized(send(api, "GET", "/v1/secrets", token=unused), broker)


# ---------------------------------------------------------------------------
# Keystone down, Keystone hanging
# ---------------------------------------------------------------------------

def timed(api, token, **kw):
    start = time.monotonic()
    resp = send(api, "GET", "/v1/secrets", token=token, **kw)
    return resp, time.monotonic() - start


def test_keystone_down(api, broker):
    ttl = cache_ttl()
    seen = broker.token(api.project)
    assert_status(send(api, "GET", "/v1/secrets", token=seen), 200)
    user = user_on(broker, api.project, "admin")
    fresh, _ = broker.issue(user, api.project)
    time.sleep(ttl + 0.5)  # past the cache TTL of `seen`
    keystone("halt", broker)
    try:
        # confirmed earlier: still good (until its expires_at)
        resp, _ = timed(api, seen)
        assert_status(resp, 200)
        resp = send(api, "POST", "/v1/secrets", token=seen, json_body=PAYLOAD)
        assert_status(resp, 201)
        # never seen: Coffer cannot tell, so 503 once its retries are spent
        resp, took = timed(api, fresh)
        assert_unavailable(resp)
        assert took < refused_seconds() + 1, took
    finally:
        keystone("resume", broker)
    # back by itself, without restarting Coffer
    assert broker.validate(fresh) is not None  # Keystone answers again
    assert_status(send(api, "GET", "/v1/secrets", token=fresh), 200)
    assert parse_json(send(api, "GET", "/v1/secrets", token=seen))["total"] \
        == 1
    assert_unauthorized(send(api, "GET", "/v1/secrets", token="garbage"),
                        broker)


def test_keystone_hanging(api, broker):
    seen = broker.token(api.project)
    assert_status(send(api, "GET", "/v1/secrets", token=seen), 200)
    user = user_on(broker, api.project, "admin")
    fresh, _ = broker.issue(user, api.project)
    keystone("pause", broker)  # accepts connections, answers nothing
    try:
        resp, took = timed(api, fresh)
        assert_unavailable(resp)
        assert took < timeout_seconds() + 1, took
        resp, took = timed(api, seen)
        assert_status(resp, 200)
    finally:
        keystone("unpause", broker)
    assert broker.validate(fresh) is not None  # Keystone answers again
    assert_status(send(api, "GET", "/v1/secrets", token=fresh), 200)
