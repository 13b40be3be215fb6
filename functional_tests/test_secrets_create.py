"""Secret creation: ``POST /v1/secrets`` and its error rows."""
import base64
import datetime
import json
import re

import pytest

from conftest import (UUID4, assert_error, assert_json_content_type,
                      assert_json_exact, assert_status, assert_v1_headers,
                      parse_json, schema_error)

TEXT_TYPES = ["text/plain", "text/plain;charset=utf-8",
              "text/plain; charset=utf-8"]
SUPPORTED_LIST = ("['text/plain', 'text/plain;charset=utf-8', "
                  "'text/plain; charset=utf-8', 'application/octet-stream', "
                  "'application/pkcs8']")


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def assert_created(api, resp):
    """A 201 with Location == secret_ref and body {"secret_ref": ...}."""
    assert_status(resp, 201)
    assert_json_content_type(resp)
    assert_v1_headers(resp)
    body = parse_json(resp)
    assert list(body.keys()) == ["secret_ref"]
    ref = body["secret_ref"]
    assert re.fullmatch(re.escape(api.base) + "/v1/secrets/" + UUID4, ref), ref
    assert resp.headers.get("location") == ref
    return ref.rsplit("/", 1)[1], ref


# ---------------------------------------------------------------------------
# Successful creation
# ---------------------------------------------------------------------------

def test_create_text_secret(api):
    resp = api.post("/v1/secrets", json_body={
        "name": "x", "payload": "hello", "payload_content_type": "text/plain"})
    sid, ref = assert_created(api, resp)
    assert_json_exact(resp, {"secret_ref": ref})
    assert api.payload(sid, accept="text/plain") == b"hello"


def test_create_with_trailing_slash(api):
    # python-barbicanclient posts to /v1/secrets/
    resp = api.post("/v1/secrets/", json_body={
        "payload": "slash", "payload_content_type": "text/plain"})
    sid, _ = assert_created(api, resp)
    assert api.payload(sid, accept="text/plain") == b"slash"


def test_each_create_gets_a_new_id(api):
    ids = {api.create_secret()[0] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize("ctype", TEXT_TYPES)
def test_text_content_types_are_stored_as_text_plain(api, ctype):
    resp = api.post("/v1/secrets", json_body={
        "payload": "caf\u00e9", "payload_content_type": ctype})
    sid, _ = assert_created(api, resp)
    meta = api.metadata(sid)
    assert meta["content_types"] == {"default": "text/plain"}
    got = api.get("/v1/secrets/%s/payload" % sid, accept="text/plain")
    assert_status(got, 200)
    assert got.headers.get("content-type") == "text/plain; charset=UTF-8"
    assert got.content == "caf\u00e9".encode("utf-8")


def test_create_octet_stream_base64(api):
    raw = bytes(range(32))
    resp = api.post("/v1/secrets", json_body={
        "payload": base64.b64encode(raw).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64"})
    sid, _ = assert_created(api, resp)
    meta = api.metadata(sid)
    assert meta["content_types"] == {"default": "application/octet-stream"}
    assert meta["name"] is None
    assert meta["secret_type"] == "opaque"
    assert api.payload(sid) == raw


def test_create_pkcs8_base64(api):
    raw = b"\x30\x82\x01\x00" + bytes(range(200, 256)) + b"\x00\x01"
    resp = api.post("/v1/secrets", json_body={
        "payload": base64.b64encode(raw).decode(),
        "payload_content_type": "application/pkcs8",
        "payload_content_encoding": "base64"})
    sid, _ = assert_created(api, resp)
    meta = api.metadata(sid)
    assert meta["content_types"] == {"default": "application/pkcs8"}
    got = api.get("/v1/secrets/%s/payload" % sid)
    assert_status(got, 200)
    assert got.headers.get("content-type") == "application/octet-stream"
    assert got.content == raw


def test_create_with_all_fields(api):
    resp = api.post("/v1/secrets", json_body={
        "name": "aes key", "secret_type": "symmetric", "algorithm": "aes",
        "bit_length": 256, "mode": "cbc",
        "expiration": "2099-12-31T19:14:44.180394",
        "payload": base64.b64encode(bytes(range(32))).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64"})
    sid, ref = assert_created(api, resp)
    meta = api.metadata(sid)
    assert {k: meta[k] for k in meta if k not in ("created", "updated")} == {
        "status": "ACTIVE", "name": "aes key", "secret_type": "symmetric",
        "expiration": "2099-12-31T19:14:44.180394", "algorithm": "aes",
        "bit_length": 256, "mode": "cbc", "creator_id": api.creator_id(),
        "content_types": {"default": "application/octet-stream"},
        "secret_ref": ref}


def test_expiration_with_offset_is_normalized_to_naive_utc(api):
    sid, _ = api.create_secret({
        "payload": "x", "payload_content_type": "text/plain",
        "expiration": "2099-06-30T12:00:00.250000+02:00"})
    assert api.metadata(sid)["expiration"] == "2099-06-30T10:00:00.250000"


@pytest.mark.parametrize("secret_type", [
    "symmetric", "passphrase", "private", "public", "certificate", "opaque"])
def test_every_secret_type_is_accepted(api, secret_type):
    sid, _ = api.create_secret({"secret_type": secret_type, "payload": "v",
                                "payload_content_type": "text/plain"})
    assert api.metadata(sid)["secret_type"] == secret_type


def test_json_content_type_with_charset_is_accepted(api):
    resp = api.post("/v1/secrets",
                    data=json.dumps({"payload": "cs",
                                     "payload_content_type": "text/plain"}),
                    content_type="application/json; charset=utf-8")
    sid, _ = assert_created(api, resp)
    assert api.payload(sid, accept="text/plain") == b"cs"


def test_unknown_extra_field_is_ignored(api):
    resp = api.post("/v1/secrets", json_body={
        "payload": "x", "payload_content_type": "text/plain", "bogus": 1})
    sid, _ = assert_created(api, resp)
    meta = api.metadata(sid)
    assert "bogus" not in meta
    assert list(meta.keys())[-1] == "secret_ref"


def test_string_values_are_stripped(api):
    sid, _ = api.create_secret({"name": "  padded name  ",
                                "payload": "  hi there \n",
                                "payload_content_type": "text/plain"})
    assert api.metadata(sid)["name"] == "padded name"
    assert api.payload(sid, accept="text/plain") == b"hi there"


def test_name_of_255_chars_is_accepted(api):
    name = "n" * 255
    sid, _ = api.create_secret({"name": name, "payload": "x",
                                "payload_content_type": "text/plain"})
    assert api.metadata(sid)["name"] == name


def test_payload_of_exactly_20000_bytes_is_accepted(api):
    sid, _ = api.create_secret({"payload": "a" * 20000,
                                "payload_content_type": "text/plain"})
    assert api.payload(sid, accept="text/plain") == b"a" * 20000


def test_non_ascii_name_round_trips(api):
    sid, _ = api.create_secret({"name": "cl\u00e9 \u2603", "payload": "x",
                                "payload_content_type": "text/plain"})
    assert api.metadata(sid)["name"] == "cl\u00e9 \u2603"


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

SCHEMA_ERRORS = [
    pytest.param(
        {"payload": "hello"},
        schema_error("If 'payload' is supplied, 'payload_content_type' must "
                     "also be supplied.", "payload_content_type"),
        id="payload-without-content-type"),
    pytest.param(
        {"payload": "hello", "payload_content_type": "application/octet-stream"},
        schema_error("payload_content_encoding is not one of "
                     "['base64', 'binary']", "payload_content_encoding"),
        id="octet-stream-without-encoding"),
    pytest.param(
        {"payload": "%%%notbase64",
         "payload_content_type": "application/octet-stream",
         "payload_content_encoding": "base64"},
        schema_error("Invalid payload for payload_content_encoding", "payload"),
        id="bad-base64"),
    pytest.param(
        {"payload": "x", "payload_content_type": "text/html"},
        schema_error("payload_content_type is not one of " + SUPPORTED_LIST,
                     "payload_content_type"),
        id="text-html"),
    pytest.param(
        {"payload": "", "payload_content_type": "text/plain"},
        schema_error("If 'payload' specified, must be non empty", "payload"),
        id="empty-payload"),
    pytest.param(
        {"payload": " \t\n  ", "payload_content_type": "text/plain"},
        schema_error("If 'payload' specified, must be non empty", "payload"),
        id="whitespace-payload"),
    pytest.param(
        {"secret_type": "bogus", "payload": "x",
         "payload_content_type": "text/plain"},
        schema_error("'bogus' is not one of ['symmetric', 'passphrase', "
                     "'private', 'public', 'certificate', 'opaque']",
                     "secret_type"),
        id="bad-secret-type"),
    pytest.param(
        {"payload": "x", "payload_content_type": "text/plain",
         "expiration": "2000-01-01T00:00:00"},
        schema_error("'expiration' is before current time", "expiration"),
        id="past-expiration"),
    pytest.param(
        {"payload": "x", "payload_content_type": "text/plain",
         "expiration": "not a date"},
        schema_error("Invalid date for 'expiration'", "expiration"),
        id="unparsable-expiration"),
    pytest.param(
        {"payload": "x", "payload_content_type": "text/plain",
         "bit_length": "abc"},
        schema_error("'abc' is not of type 'integer'", "bit_length"),
        id="bit-length-not-integer"),
    pytest.param(
        {"payload": "x", "payload_content_type": "text/plain",
         "bit_length": 0},
        schema_error("0 is less than the minimum of 1", "bit_length"),
        id="bit-length-zero"),
    pytest.param(
        {"name": "N" * 256, "payload": "x",
         "payload_content_type": "text/plain"},
        schema_error("'%s' is too long" % ("N" * 256), "name"),
        id="name-too-long"),
]


@pytest.mark.parametrize("body,description", SCHEMA_ERRORS)
def test_create_schema_errors(api, body, description):
    resp = api.post("/v1/secrets", json_body=body)
    assert_error(resp, 400, description)
    # nothing was created
    listing = parse_json(api.get("/v1/secrets"))
    assert listing == {"secrets": [], "total": 0}


def test_create_invalid_json(api):
    resp = api.post("/v1/secrets", data=b"{not json",
                    content_type="application/json")
    assert_error(resp, 400, "Malformed JSON")


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml",
                                   "application/x-www-form-urlencoded"])
def test_create_with_non_json_content_type_is_415(api, ctype):
    resp = api.post("/v1/secrets", data=b"hello", content_type=ctype)
    assert_error(resp, 415, "Unexpected content type. Expected content types "
                            "are: ['application/json']")


def test_create_without_content_type_is_415(api):
    body = json.dumps({"payload": "x", "payload_content_type": "text/plain"})
    resp = api.post("/v1/secrets", data=body.encode())
    assert_error(resp, 415, "Unexpected content type. Expected content types "
                            "are: ['application/json']")


@pytest.mark.parametrize("raw", [b"[]", b'["a"]', b'"just a string"',
                                 b"null", b"42"])
def test_create_with_json_that_is_not_an_object_is_400(api, raw):
    resp = api.post("/v1/secrets", data=raw, content_type="application/json")
    assert_error(resp, 400)


def test_payload_over_20000_bytes_is_413(api):
    body = {"payload": "a" * 20001, "payload_content_type": "text/plain"}
    assert len(json.dumps(body)) < 25000
    resp = api.post("/v1/secrets", json_body=body)
    assert_error(resp, 413, "Provided information too large to process")


def test_payload_limit_counts_utf8_bytes(api):
    # 10001 two-byte characters: 20002 bytes of UTF-8
    body = {"payload": "\u00e9" * 10001, "payload_content_type": "text/plain"}
    resp = api.post("/v1/secrets",
                    data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                    content_type="application/json")
    assert_error(resp, 413, "Provided information too large to process")


def test_payload_limit_applies_to_the_base64_text(api):
    # 15003 bytes encode to 20004 base64 characters: over the limit, as in
    # Barbican, which measures the payload string it was sent.
    body = {"payload": base64.b64encode(b"\x01" * 15003).decode(),
            "payload_content_type": "application/octet-stream",
            "payload_content_encoding": "base64"}
    assert len(body["payload"]) == 20004
    resp = api.post("/v1/secrets", json_body=body)
    assert_error(resp, 413, "Provided information too large to process")


def test_request_body_over_25000_bytes_is_413(api):
    # Deliberate deviation: Barbican truncates the body and answers
    # 400 "Malformed JSON"; Coffer refuses it with 413.
    body = {"payload": "a" * 30000, "payload_content_type": "text/plain"}
    resp = api.post("/v1/secrets", json_body=body)
    assert_error(resp, 413, "Provided information too large to process")


def test_request_body_over_25000_bytes_with_small_payload_is_413(api):
    body = {"payload": "small", "payload_content_type": "text/plain",
            "padding": "p" * 26000}
    resp = api.post("/v1/secrets", json_body=body)
    assert_error(resp, 413, "Provided information too large to process")
    assert parse_json(api.get("/v1/secrets"))["total"] == 0


def test_expiration_just_in_the_future_is_accepted(api):
    exp = (utcnow() + datetime.timedelta(minutes=5)).isoformat()
    sid, _ = api.create_secret({"payload": "x",
                                "payload_content_type": "text/plain",
                                "expiration": exp})
    assert api.metadata(sid)["expiration"] == exp
