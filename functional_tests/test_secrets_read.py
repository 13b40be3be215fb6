"""Reading secrets: metadata, payload, not-found and cross-project access."""
import base64
import datetime
import time
import uuid

import pytest

from conftest import (METADATA_KEYS, METADATA_KEYS_NO_PAYLOAD, TIMESTAMP_RE,
                      assert_error, assert_json_content_type, assert_status,
                      assert_v1_headers, denied, new_user_id, parse_json)

INVALID_ID = "Not Found. Provided secret id is invalid."
NOT_FOUND = "Secret not found."
NO_PAYLOAD = "Not Found. Sorry but your secret has no payload."
WRONG_TYPE = ("Secret payload retrieval issue seen - "
              "Wrong payload content-type.")


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def parse_ts(value):
    return datetime.datetime.fromisoformat(value)


# ---------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------

def test_metadata_exact_shape(api):
    before = utcnow() - datetime.timedelta(minutes=2)
    sid, ref = api.create_secret({"name": "x", "payload": "hello",
                                  "payload_content_type": "text/plain"})
    resp = api.get("/v1/secrets/%s" % sid, accept="application/json")
    assert_status(resp, 200)
    assert_json_content_type(resp)
    assert_v1_headers(resp)
    body = parse_json(resp)
    assert list(body.keys()) == METADATA_KEYS
    for key in ("created", "updated"):
        assert TIMESTAMP_RE.match(body[key]), body[key]
        stamp = parse_ts(body[key])
        assert before <= stamp <= utcnow() + datetime.timedelta(minutes=2)
    assert parse_ts(body["created"]) <= parse_ts(body["updated"])
    assert {k: v for k, v in body.items()
            if k not in ("created", "updated")} == {
        "status": "ACTIVE", "name": "x", "secret_type": "opaque",
        "expiration": None, "algorithm": None, "bit_length": None,
        "mode": None, "creator_id": api.creator_id(),
        "content_types": {"default": "text/plain"}, "secret_ref": ref}


def test_metadata_of_metadata_only_secret_has_no_content_types(api):
    sid, ref = api.create_secret({"name": "later"})
    body = api.metadata(sid)
    assert list(body.keys()) == METADATA_KEYS_NO_PAYLOAD
    assert body["name"] == "later"
    assert body["status"] == "ACTIVE"
    assert body["secret_ref"] == ref


def test_name_is_null_when_not_given(api):
    sid, _ = api.create_secret()
    assert api.metadata(sid)["name"] is None


def test_creator_id_is_the_user_id_header(api):
    owner = new_user_id()
    sid, _ = api.create_secret(user=owner)
    assert api.metadata(sid)["creator_id"] == owner
    # whoever reads it
    assert api.metadata(sid, user=new_user_id())["creator_id"] == owner


def test_creator_id_is_null_without_user_id_header(api):
    # (in keystone mode: the user of the token, which always has one)
    sid, _ = api.create_secret()
    expected = api.creator_id()
    assert api.metadata(sid, user=new_user_id())["creator_id"] == expected


@pytest.mark.parametrize("accept", ["application/json", "*/*", None])
def test_metadata_for_json_wildcard_or_no_accept(api, accept):
    sid, ref = api.create_secret()
    resp = api.get("/v1/secrets/%s" % sid, accept=accept)
    assert_status(resp, 200)
    assert_json_content_type(resp)
    body = parse_json(resp)
    assert list(body.keys()) == METADATA_KEYS
    assert body["secret_ref"] == ref


# ---------------------------------------------------------------------------
# Payload
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("accept,ctype", [
    ("text/plain", "text/plain; charset=UTF-8"),
    ("application/octet-stream", "application/octet-stream"),
    (None, "application/octet-stream"),
])
def test_payload_content_type_follows_accept(api, accept, ctype):
    sid, _ = api.create_secret({"payload": "hello",
                                "payload_content_type": "text/plain"})
    resp = api.get("/v1/secrets/%s/payload" % sid, accept=accept)
    assert_status(resp, 200)
    assert resp.headers.get("content-type") == ctype
    assert_v1_headers(resp)
    assert resp.content == b"hello"


def test_binary_round_trip_all_byte_values(api):
    raw = bytes(range(256)) * 3
    sid, _ = api.create_secret({
        "payload": base64.b64encode(raw).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64"})
    for accept in ("application/octet-stream", None):
        resp = api.get("/v1/secrets/%s/payload" % sid, accept=accept)
        assert_status(resp, 200)
        assert resp.headers.get("content-type") == "application/octet-stream"
        assert resp.content == raw


def test_binary_payload_that_is_valid_utf8_can_be_read_as_text(api):
    raw = bytes(range(32))
    sid, _ = api.create_secret({
        "payload": base64.b64encode(raw).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64"})
    resp = api.get("/v1/secrets/%s/payload" % sid, accept="text/plain")
    assert_status(resp, 200)
    assert resp.headers.get("content-type") == "text/plain; charset=UTF-8"
    assert resp.content == raw


def test_non_utf8_binary_payload_as_text_is_406(api):
    raw = b"\xff\xfe\x80\x00binary"
    sid, _ = api.create_secret({
        "payload": base64.b64encode(raw).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64"})
    resp = api.get("/v1/secrets/%s/payload" % sid, accept="text/plain")
    assert_error(resp, 406, WRONG_TYPE)


@pytest.mark.parametrize("accept", ["application/json", "image/png"])
def test_payload_with_unsupported_accept_is_406(api, accept):
    sid, _ = api.create_secret()
    resp = api.get("/v1/secrets/%s/payload" % sid, accept=accept)
    assert_error(resp, 406, WRONG_TYPE)


def test_legacy_get_with_accept_text_plain_returns_payload(api):
    sid, _ = api.create_secret({"payload": "legacy",
                                "payload_content_type": "text/plain"})
    resp = api.get("/v1/secrets/%s" % sid, accept="text/plain")
    assert_status(resp, 200)
    assert resp.headers.get("content-type") == "text/plain; charset=UTF-8"
    assert_v1_headers(resp)
    assert resp.content == b"legacy"


def test_legacy_get_with_accept_octet_stream_returns_payload(api):
    raw = b"\x00\x01\x02\xfe\xff"
    sid, _ = api.create_secret({
        "payload": base64.b64encode(raw).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64"})
    resp = api.get("/v1/secrets/%s" % sid, accept="application/octet-stream")
    assert_status(resp, 200)
    assert resp.headers.get("content-type") == "application/octet-stream"
    assert resp.content == raw


def test_payload_of_metadata_only_secret_is_404(api):
    sid, _ = api.create_secret({"name": "empty"})
    for accept in ("text/plain", "application/octet-stream", None):
        resp = api.get("/v1/secrets/%s/payload" % sid, accept=accept)
        assert_error(resp, 404, NO_PAYLOAD)


# ---------------------------------------------------------------------------
# Not found
# ---------------------------------------------------------------------------

def _paths(secret_id):
    return [("GET", "/v1/secrets/%s" % secret_id, "application/json"),
            ("GET", "/v1/secrets/%s/payload" % secret_id, "text/plain"),
            ("DELETE", "/v1/secrets/%s" % secret_id, None)]


@pytest.mark.parametrize("bad_id", [
    "not-a-uuid",
    "00000000-0000-0000-0000-000000000000",
    # a valid version-1 UUID is not a Barbican id either
    "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
])
def test_malformed_or_non_uuid4_id_is_404_invalid(api, bad_id):
    for method, path, accept in _paths(bad_id):
        resp = api.request(method, path, accept=accept)
        assert_error(resp, 404, INVALID_ID)


def test_uppercase_id_is_404_invalid(api):
    sid, _ = api.create_secret()
    resp = api.get("/v1/secrets/%s" % sid.upper(), accept="application/json")
    assert_error(resp, 404, INVALID_ID)


def test_unknown_uuid4_is_404_not_found(api):
    unknown = str(uuid.uuid4())
    for method, path, accept in _paths(unknown):
        resp = api.request(method, path, accept=accept)
        assert_error(resp, 404, NOT_FOUND)
    resp = api.put("/v1/secrets/%s" % unknown, data=b"x",
                   content_type="text/plain")
    assert_error(resp, 404, NOT_FOUND)


# ---------------------------------------------------------------------------
# Another project's secret: 403, not 404
# ---------------------------------------------------------------------------

def test_other_projects_secret_is_403(api, make_api):
    sid, _ = api.create_secret()
    other = make_api()
    resp = other.get("/v1/secrets/%s" % sid, accept="application/json")
    assert_error(resp, 403, denied("Secret retrieval"))
    resp = other.get("/v1/secrets/%s/payload" % sid, accept="text/plain")
    assert_error(resp, 403, denied("Secret payload retrieval"))
    resp = other.delete("/v1/secrets/%s" % sid)
    assert_error(resp, 403, denied("Secret deletion"))
    # still there for its owner
    assert api.payload(sid, accept="text/plain") == b"s3cr3t"


def test_other_project_cannot_put_payload(api, make_api):
    sid, _ = api.create_secret({"name": "later"})
    resp = make_api().put("/v1/secrets/%s" % sid, data=b"intruder",
                          content_type="text/plain")
    assert_error(resp, 403, denied("Secret update"))
    resp = api.get("/v1/secrets/%s/payload" % sid, accept="text/plain")
    assert_error(resp, 404, NO_PAYLOAD)


def test_other_projects_secret_not_in_own_list(api, make_api):
    api.create_secret()
    other = make_api()
    assert parse_json(other.get("/v1/secrets")) == {"secrets": [], "total": 0}


# ---------------------------------------------------------------------------
# Expiration
# ---------------------------------------------------------------------------

def test_secret_disappears_when_it_expires(api):
    expires = utcnow() + datetime.timedelta(seconds=3)
    sid, ref = api.create_secret({
        "name": "short-lived", "payload": "tick",
        "payload_content_type": "text/plain",
        "expiration": expires.isoformat()})
    keeper, _ = api.create_secret({"name": "keeper"})

    meta = api.metadata(sid)
    assert parse_ts(meta["expiration"]) == expires
    assert api.payload(sid, accept="text/plain") == b"tick"
    listed = parse_json(api.get("/v1/secrets"))
    assert listed["total"] == 2

    delay = (expires - utcnow()).total_seconds() + 0.6
    if delay > 0:
        time.sleep(delay)

    resp = api.get("/v1/secrets/%s" % sid, accept="application/json")
    assert_error(resp, 404, NOT_FOUND)
    resp = api.get("/v1/secrets/%s/payload" % sid, accept="text/plain")
    assert_error(resp, 404, NOT_FOUND)
    listed = parse_json(api.get("/v1/secrets"))
    assert listed["total"] == 1
    assert [s["name"] for s in listed["secrets"]] == ["keeper"]
