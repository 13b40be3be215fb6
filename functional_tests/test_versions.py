"""Version discovery (``GET /``, ``GET /v1``) and API microversions."""
import pytest

from conftest import (assert_json_content_type, assert_json_exact,
                      assert_request_id, assert_status, assert_v1_headers,
                      parse_json)


def links(base):
    return [
        {"rel": "self", "href": base + "/v1/"},
        {"rel": "describedby", "type": "text/html",
         "href": "https://docs.openstack.org/"},
    ]


def stable_v1(base):
    """The 1.0 form of the v1 version object."""
    return {
        "id": "v1",
        "status": "stable",
        "links": links(base),
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.key-manager-v1+json",
        }],
    }


def current_v1(base):
    """The 1.1 (microversion-aware) form of the v1 version object."""
    return {
        "id": "v1",
        "status": "CURRENT",
        "min_version": "1.0",
        "max_version": "1.2",
        "links": links(base),
    }


def test_root_lists_versions_with_300(api):
    resp = api.get("/", project=None)
    assert_status(resp, 300)
    assert_json_content_type(resp)
    assert_request_id(resp)
    assert resp.headers.get("openstack-api-version") == "key-manager 1.0"
    assert_json_exact(resp, {"versions": {"values": [stable_v1(api.base)]}})


def test_root_with_accept_json(api):
    resp = api.get("/", project=None, accept="application/json")
    assert_status(resp, 300)
    assert_json_exact(resp, {"versions": {"values": [stable_v1(api.base)]}})


def test_root_needs_no_project_but_accepts_one(api):
    resp = api.get("/")
    assert_status(resp, 300)
    assert_json_exact(resp, {"versions": {"values": [stable_v1(api.base)]}})


def test_root_with_microversion_1_1(api):
    resp = api.get("/", project=None, api_version="key-manager 1.1")
    assert_status(resp, 300)
    assert_json_content_type(resp)
    assert_request_id(resp)
    assert resp.headers.get("openstack-api-version") == "key-manager 1.1"
    assert_json_exact(resp, {"versions": [current_v1(api.base)]})


def test_root_with_microversion_1_0_is_the_legacy_form(api):
    resp = api.get("/", project=None, api_version="key-manager 1.0")
    assert_status(resp, 300)
    assert_json_exact(resp, {"versions": {"values": [stable_v1(api.base)]}})


def test_v1_root(api):
    resp = api.get("/v1")
    assert_status(resp, 200)
    assert_json_content_type(resp)
    assert_v1_headers(resp)
    assert_json_exact(resp, {"version": stable_v1(api.base)})


def test_v1_root_with_microversion_1_1(api):
    resp = api.get("/v1", api_version="key-manager 1.1")
    assert_status(resp, 200)
    assert_json_content_type(resp)
    assert_v1_headers(resp, "1.1")
    assert_json_exact(resp, {"version": current_v1(api.base)})


@pytest.mark.parametrize("header,answered", [
    ("key-manager 1.0", "1.0"),
    ("key-manager 1.1", "1.1"),
    ("key-manager 1.2", "1.2"),
    ("key-manager latest", "1.2"),
])
def test_microversion_is_echoed(api, header, answered):
    resp = api.get("/v1/secrets", api_version=header)
    assert_status(resp, 200)
    assert_v1_headers(resp, answered)


def test_no_microversion_header_means_1_0(api):
    resp = api.get("/v1/secrets")
    assert_status(resp, 200)
    assert_v1_headers(resp, "1.0")


def test_unsupported_microversion_is_406_text(api):
    resp = api.get("/v1/secrets", api_version="key-manager 9.9")
    assert_status(resp, 406)
    assert resp.headers.get("content-type") == "text/plain; charset=UTF-8"
    assert_request_id(resp)
    text = resp.content.decode("utf-8")
    assert text.startswith("406 Not Acceptable\n")
    assert "Invalid microversion: Unacceptable version header: 9.9" in text


def test_consumers_key_only_with_microversion_1_1(api):
    sid, ref = api.create_secret({"name": "mv", "payload": "x",
                                  "payload_content_type": "text/plain"})
    plain = api.metadata(sid)
    assert "consumers" not in plain
    resp = api.get("/v1/secrets/%s" % sid, accept="application/json",
                   api_version="key-manager 1.1")
    assert_status(resp, 200)
    assert_v1_headers(resp, "1.1")
    body = parse_json(resp)
    assert list(body.keys()) == [
        "created", "updated", "status", "name", "secret_type", "expiration",
        "algorithm", "bit_length", "mode", "creator_id", "consumers",
        "content_types", "secret_ref"]
    assert body["consumers"] == []
    expected = dict(plain)
    expected["consumers"] = []
    assert body == expected
