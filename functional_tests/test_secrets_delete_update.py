"""Adding a payload later (``PUT /v1/secrets/{id}``) and deleting secrets."""
import base64

import pytest

from conftest import (assert_error, assert_no_content, assert_status,
                      assert_v1_headers, parse_json)

NOT_FOUND = "Secret not found."


# ---------------------------------------------------------------------------
# PUT: the second step of a two-step secret
# ---------------------------------------------------------------------------

def test_metadata_only_secret_then_put_payload(api):
    sid, _ = api.create_secret({"name": "later"})
    assert "content_types" not in api.metadata(sid)

    put = api.put("/v1/secrets/%s" % sid, data=b"late payload",
                  content_type="text/plain")
    assert_no_content(put)
    assert_v1_headers(put)

    assert api.payload(sid, accept="text/plain") == b"late payload"
    assert api.metadata(sid)["content_types"] == {"default": "text/plain"}

    again = api.put("/v1/secrets/%s" % sid, data=b"again",
                    content_type="text/plain")
    assert_error(again, 409, "Secret already has data, cannot modify it.")
    assert api.payload(sid, accept="text/plain") == b"late payload"


def test_put_into_secret_created_with_payload_is_409(api):
    sid, _ = api.create_secret()
    resp = api.put("/v1/secrets/%s" % sid, data=b"other",
                   content_type="text/plain")
    assert_error(resp, 409, "Secret already has data, cannot modify it.")


def test_put_octet_stream_base64_stores_decoded_bytes(api):
    sid, _ = api.create_secret({"name": "b64"})
    raw = bytes(range(256))
    resp = api.put("/v1/secrets/%s" % sid, data=base64.b64encode(raw),
                   content_type="application/octet-stream",
                   headers={"Content-Encoding": "base64"})
    assert_status(resp, 204)
    assert api.payload(sid) == raw
    assert api.metadata(sid)["content_types"] == {
        "default": "application/octet-stream"}


def test_put_octet_stream_without_encoding_stores_raw_bytes(api):
    # what python-barbicanclient's update() sends for a bytes payload
    sid, _ = api.create_secret({"name": "raw"})
    raw = bytes(range(255, -1, -1))
    resp = api.put("/v1/secrets/%s" % sid, data=raw,
                   content_type="application/octet-stream")
    assert_status(resp, 204)
    assert api.payload(sid) == raw


@pytest.mark.parametrize("ctype", ["application/json", "text/html"])
def test_put_with_unsupported_content_type_is_415(api, ctype):
    sid, _ = api.create_secret({"name": "later"})
    resp = api.put("/v1/secrets/%s" % sid, data=b'{"a": 1}',
                   content_type=ctype)
    assert_error(resp, 415)
    # nothing was stored
    nopayload = api.get("/v1/secrets/%s/payload" % sid, accept="text/plain")
    assert_error(nopayload, 404,
                 "Not Found. Sorry but your secret has no payload.")


def test_put_utf8_text_payload(api):
    sid, _ = api.create_secret({"name": "later"})
    resp = api.put("/v1/secrets/%s" % sid, data="caf\u00e9".encode("utf-8"),
                   content_type="text/plain")
    assert_no_content(resp)
    got = api.get("/v1/secrets/%s/payload" % sid, accept="text/plain")
    assert_status(got, 200)
    assert got.headers.get("content-type") == "text/plain; charset=UTF-8"
    assert got.content == "caf\u00e9".encode("utf-8")


# ---------------------------------------------------------------------------
# DELETE
# ---------------------------------------------------------------------------

def test_delete_then_gone(api):
    sid, _ = api.create_secret()
    resp = api.delete("/v1/secrets/%s" % sid)
    assert_no_content(resp)
    assert_v1_headers(resp)

    resp = api.get("/v1/secrets/%s" % sid, accept="application/json")
    assert_error(resp, 404, NOT_FOUND)
    resp = api.get("/v1/secrets/%s/payload" % sid, accept="text/plain")
    assert_error(resp, 404, NOT_FOUND)
    resp = api.delete("/v1/secrets/%s" % sid)
    assert_error(resp, 404, NOT_FOUND)
    resp = api.put("/v1/secrets/%s" % sid, data=b"x", content_type="text/plain")
    assert_error(resp, 404, NOT_FOUND)


def test_delete_metadata_only_secret(api):
    sid, _ = api.create_secret({"name": "nothing yet"})
    assert_no_content(api.delete("/v1/secrets/%s" % sid))
    assert_error(api.get("/v1/secrets/%s" % sid), 404, NOT_FOUND)


def test_delete_removes_only_that_secret_from_the_list(api):
    ids = [api.create_secret({"name": "d%d" % i, "payload": "p%d" % i,
                              "payload_content_type": "text/plain"})[0]
           for i in range(3)]
    assert_no_content(api.delete("/v1/secrets/%s" % ids[1]))
    listed = parse_json(api.get("/v1/secrets"))
    assert listed["total"] == 2
    assert [s["name"] for s in listed["secrets"]] == ["d0", "d2"]
    assert api.payload(ids[0], accept="text/plain") == b"p0"
    assert api.payload(ids[2], accept="text/plain") == b"p2"


def test_delete_ignores_accept_and_body(api):
    sid, _ = api.create_secret()
    resp = api.delete("/v1/secrets/%s" % sid, accept="application/json")
    assert_no_content(resp)


def test_delete_force_parameter_is_validated_from_microversion_1_2(api):
    sid, _ = api.create_secret({"name": "f", "payload": "x",
                                "payload_content_type": "text/plain"})
    resp = api.delete("/v1/secrets/%s?force=maybe" % sid,
                      api_version="key-manager 1.2")
    assert_error(resp, 400, "URI provided invalid query string parameters.",
                 v1=False)
    assert_v1_headers(resp, "1.2")
    # Before 1.2 the parameter is ignored.
    resp = api.delete("/v1/secrets/%s?force=maybe" % sid)
    assert_status(resp, 204)
    sid, _ = api.create_secret({"name": "g", "payload": "x",
                                "payload_content_type": "text/plain"})
    resp = api.delete("/v1/secrets/%s?force=True" % sid,
                      api_version="key-manager 1.2")
    assert_status(resp, 204)
