"""Common headers, authentication errors, routing errors, JSON formatting."""
import json
import uuid

import pytest

from conftest import (REQUEST_ID_RE, assert_error, assert_request_id,
                      assert_status, assert_v1_headers, parse_json)


# ---------------------------------------------------------------------------
# Missing project: deliberate deviation, 401 in the standard error shape
# ---------------------------------------------------------------------------

def mentions_project_header(description):
    return "X-Project-Id" in description


@pytest.mark.trusted_headers
@pytest.mark.parametrize("accept", [None, "application/json", "text/plain",
                                    "*/*"])
def test_missing_project_is_401_json(api, accept):
    resp = api.get("/v1/secrets", project=None, accept=accept)
    assert_error(resp, 401, mentions_project_header, v1=False)


@pytest.mark.trusted_headers
def test_missing_project_on_create_is_401_and_creates_nothing(api):
    resp = api.post("/v1/secrets", project=None, json_body={
        "payload": "x", "payload_content_type": "text/plain"})
    assert_error(resp, 401, mentions_project_header, v1=False)


@pytest.mark.trusted_headers
def test_missing_project_on_item_routes_is_401(api):
    sid, _ = api.create_secret()
    for method, path in (("GET", "/v1/secrets/%s" % sid),
                         ("GET", "/v1/secrets/%s/payload" % sid),
                         ("DELETE", "/v1/secrets/%s" % sid)):
        resp = api.request(method, path, project=None)
        assert_error(resp, 401, mentions_project_header, v1=False)
    # the secret is untouched
    assert api.payload(sid, accept="text/plain") == b"s3cr3t"


@pytest.mark.trusted_headers
def test_empty_project_header_is_401(api):
    resp = api.get("/v1/secrets", project="")
    assert_error(resp, 401, mentions_project_header, v1=False)


# ---------------------------------------------------------------------------
# Routing errors
# ---------------------------------------------------------------------------

def test_put_on_collection_is_405(api):
    resp = api.put("/v1/secrets", json_body={"a": 1})
    assert_error(resp, 405, "")
    assert resp.headers.get("allow") == "GET, POST"


def test_delete_on_collection_is_405(api):
    resp = api.delete("/v1/secrets")
    assert_error(resp, 405, "")
    assert resp.headers.get("allow") == "GET, POST"


def test_patch_on_secret_is_405(api):
    sid, _ = api.create_secret()
    resp = api.request("PATCH", "/v1/secrets/%s" % sid,
                       json_body={"name": "renamed"})
    assert_error(resp, 405, "")
    allow = {m.strip() for m in resp.headers.get("allow", "").split(",")}
    assert allow == {"GET", "PUT", "DELETE"}
    assert api.metadata(sid)["name"] is None


def test_unknown_resource_is_404_with_empty_description(api):
    resp = api.get("/v1/bogus")
    assert_error(resp, 404, "")


def test_unknown_secret_subresource_is_404(api):
    sid, _ = api.create_secret()
    resp = api.get("/v1/secrets/%s/bogus" % sid)
    assert_error(resp, 404, "")


# ---------------------------------------------------------------------------
# Headers on every response
# ---------------------------------------------------------------------------

def _sample_responses(api):
    """One response of each kind the suite cares about."""
    out = {}
    created = api.post("/v1/secrets", json_body={
        "payload": "hdr", "payload_content_type": "text/plain"})
    out["201 create"] = created
    sid = parse_json(created)["secret_ref"].rsplit("/", 1)[1]
    out["200 metadata"] = api.get("/v1/secrets/%s" % sid)
    out["200 payload"] = api.get("/v1/secrets/%s/payload" % sid,
                                 accept="text/plain")
    out["200 list"] = api.get("/v1/secrets")
    out["400 schema"] = api.post("/v1/secrets", json_body={"payload": "x"})
    out["404 unknown"] = api.get("/v1/secrets/%s" % uuid.uuid4())
    out["405"] = api.put("/v1/secrets", json_body={})
    out["415"] = api.post("/v1/secrets", data=b"x", content_type="text/plain")
    out["204 delete"] = api.delete("/v1/secrets/%s" % sid)
    return out


def test_v1_headers_on_every_kind_of_response(api):
    for label, resp in _sample_responses(api).items():
        try:
            assert_v1_headers(resp)
        except AssertionError as exc:
            raise AssertionError("%s: %s (headers %r)"
                                 % (label, exc, dict(resp.headers)))


def test_request_id_on_version_and_error_responses(api):
    for resp in (api.get("/", project=None),
                 api.get("/v1/secrets", project=None),
                 api.get("/v1/secrets", api_version="key-manager 9.9")):
        assert_request_id(resp)


def test_request_ids_are_unique(api):
    ids = [api.get("/v1/secrets").headers.get("x-openstack-request-id")
           for _ in range(5)]
    assert all(REQUEST_ID_RE.match(i) for i in ids)
    assert len(set(ids)) == 5


def test_microversion_headers_on_errors(api):
    resp = api.get("/v1/secrets/%s" % uuid.uuid4(),
                   api_version="key-manager 1.1")
    assert_status(resp, 404)
    assert_v1_headers(resp, "1.1")


# ---------------------------------------------------------------------------
# JSON formatting: like Python's json.dumps defaults
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("label", ["201 create", "200 metadata", "200 list",
                                   "400 schema", "404 unknown", "405", "415"])
def test_json_text_matches_python_json_dumps(api, label):
    resp = _sample_responses(api)[label]
    assert resp.headers.get("content-type") == "application/json"
    text = resp.content.decode("utf-8")
    assert text == json.dumps(parse_json(resp)), text


def test_version_document_text_matches_python_json_dumps(api):
    resp = api.get("/", project=None)
    text = resp.content.decode("utf-8")
    assert text == json.dumps(parse_json(resp)), text
