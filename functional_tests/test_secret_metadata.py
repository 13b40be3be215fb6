"""User metadata on secrets: ``/v1/secrets/{id}/metadata[/{key}]``.

The whole set is replaced with ``PUT .../metadata`` (201), single keys are
added with ``POST .../metadata`` (201 + Location) and read, updated or removed
at ``.../metadata/{key}``. Keys are lower-cased on the way in; the order of
the keys in ``GET .../metadata`` is not guaranteed.
"""
import pytest

from conftest import (JSON_ONLY, METADATA_KEYS, assert_error,
                      assert_json_content_type, assert_json_exact,
                      assert_no_content, assert_status, assert_v1_headers,
                      parse_json, schema_msg)

NOT_FOUND = "Secret metadata not found."
NOT_STRINGS = "Invalid Metadata. Keys and Values must be Strings."
NOT_URL_SAFE = "Invalid Key. Key must be URL safe."
DUPLICATE = "Conflict. Key in request is already in the secret metadata"


def meta_path(sid, key=None):
    path = "/v1/secrets/%s/metadata" % sid
    return path if key is None else "%s/%s" % (path, key)


def user_metadata(api, sid, **kw):
    """GET the whole set; insist on 200 and the one-key envelope."""
    resp = api.get(meta_path(sid), **kw)
    assert_status(resp, 200)
    assert_json_content_type(resp)
    body = parse_json(resp)
    assert list(body.keys()) == ["metadata"]
    return body["metadata"]


@pytest.fixture
def sid(api):
    return api.create_secret()[0]


# ---------------------------------------------------------------------------
# The whole set: PUT and GET
# ---------------------------------------------------------------------------

def test_new_secret_has_empty_metadata(api, sid):
    resp = api.get(meta_path(sid))
    assert_status(resp, 200)
    assert_v1_headers(resp)
    assert_json_exact(resp, {"metadata": {}})


def test_put_is_201_with_metadata_ref(api, sid):
    resp = api.put(meta_path(sid),
                   json_body={"metadata": {"color": "red", "size": "xl"}})
    assert_status(resp, 201)
    assert_json_content_type(resp)
    assert_v1_headers(resp)
    assert_json_exact(resp, {"metadata_ref": api.base + meta_path(sid)})
    assert "location" not in resp.headers
    assert user_metadata(api, sid) == {"color": "red", "size": "xl"}


def test_put_lower_cases_keys(api, sid):
    resp = api.put(meta_path(sid),
                   json_body={"metadata": {"Color": "Red", "SIZE": "XL"}})
    assert_status(resp, 201)
    # values keep their case
    assert user_metadata(api, sid) == {"color": "Red", "size": "XL"}


def test_put_replaces_everything(api, sid):
    api.put(meta_path(sid), json_body={"metadata": {"a": "1", "b": "2"}})
    resp = api.put(meta_path(sid), json_body={"metadata": {"c": "3"}})
    assert_status(resp, 201)
    assert user_metadata(api, sid) == {"c": "3"}

    resp = api.put(meta_path(sid), json_body={"metadata": {}})
    assert_status(resp, 201)
    assert user_metadata(api, sid) == {}


def test_put_ignores_other_top_level_fields(api, sid):
    resp = api.put(meta_path(sid),
                   json_body={"metadata": {"x": "y"}, "extra": 1})
    assert_status(resp, 201)
    assert user_metadata(api, sid) == {"x": "y"}


def test_key_characters_allowed(api, sid):
    meta = {"a-b_c": "v", "0123456789": "digits", "k": "any value: /?#&"}
    resp = api.put(meta_path(sid), json_body={"metadata": meta})
    assert_status(resp, 201)
    assert user_metadata(api, sid) == meta


def test_user_metadata_is_not_in_secret_metadata(api, sid):
    api.put(meta_path(sid), json_body={"metadata": {"color": "red"}})
    body = api.metadata(sid)
    assert list(body.keys()) == METADATA_KEYS
    assert "color" not in body and "metadata" not in body


@pytest.mark.parametrize("body,status,description", [
    ({"metadata": {"a": 1}}, 400, NOT_STRINGS),
    ({"metadata": {"a": None}}, 400, NOT_STRINGS),
    ({"metadata": {"a": ["x"]}}, 400, NOT_STRINGS),
    ({"metadata": {"a b": "x"}}, 400, NOT_URL_SAFE),
    ({"metadata": {"a/b": "x"}}, 400, NOT_URL_SAFE),
    ({"metadata": {"a.b": "x"}}, 400, NOT_URL_SAFE),
    ({}, 400, schema_msg("SecretMetadata",
                         "'metadata' is a required property", "metadata")),
    ({"meta": {"a": "b"}}, 400, schema_msg(
        "SecretMetadata", "'metadata' is a required property", "metadata")),
    ({"metadata": "x"}, 400, schema_msg(
        "SecretMetadata", "'x' is not of type 'object'", "metadata")),
    ([1], 400, schema_msg("SecretMetadata", "[1] is not of type 'object'",
                          "None")),
])
def test_put_validation(api, sid, body, status, description):
    api.put(meta_path(sid), json_body={"metadata": {"keep": "me"}})
    resp = api.put(meta_path(sid), json_body=body)
    assert_error(resp, status, description)
    assert user_metadata(api, sid) == {"keep": "me"}


def test_put_needs_json(api, sid):
    resp = api.put(meta_path(sid), data=b'{"metadata": {}}',
                   content_type="text/plain")
    assert_error(resp, 415, JSON_ONLY)


def test_put_malformed_json(api, sid):
    resp = api.put(meta_path(sid), data=b"{not json",
                   content_type="application/json")
    assert_error(resp, 400, "Malformed JSON")


# ---------------------------------------------------------------------------
# One key: POST, GET, PUT, DELETE
# ---------------------------------------------------------------------------

def test_post_one_key(api, sid):
    api.put(meta_path(sid), json_body={"metadata": {"color": "red"}})
    resp = api.post(meta_path(sid),
                    json_body={"key": "shape", "value": "round"})
    assert_status(resp, 201)
    assert_v1_headers(resp)
    assert resp.headers.get("location") == api.base + meta_path(sid, "shape")
    assert_json_exact(resp, {"key": "shape", "value": "round"})
    assert user_metadata(api, sid) == {"color": "red", "shape": "round"}


def test_post_lower_cases_the_key_and_strips_whitespace(api, sid):
    resp = api.post(meta_path(sid),
                    json_body={"key": "Shape", "value": "  Round  "})
    assert_status(resp, 201)
    assert resp.headers.get("location") == api.base + meta_path(sid, "shape")
    assert_json_exact(resp, {"key": "shape", "value": "Round"})
    assert user_metadata(api, sid) == {"shape": "Round"}


def test_post_existing_key_is_409(api, sid):
    api.post(meta_path(sid), json_body={"key": "shape", "value": "round"})
    resp = api.post(meta_path(sid),
                    json_body={"key": "shape", "value": "square"})
    assert_error(resp, 409, DUPLICATE)
    # also when only the case differs: the key is lower-cased first
    resp = api.post(meta_path(sid),
                    json_body={"key": "SHAPE", "value": "square"})
    assert_error(resp, 409, DUPLICATE)
    assert user_metadata(api, sid) == {"shape": "round"}


def test_get_one_key(api, sid):
    api.put(meta_path(sid), json_body={"metadata": {"shape": "round"}})
    resp = api.get(meta_path(sid, "shape"))
    assert_status(resp, 200)
    assert_v1_headers(resp)
    assert_json_exact(resp, {"key": "shape", "value": "round"})


def test_get_one_key_is_case_sensitive(api, sid):
    api.put(meta_path(sid), json_body={"metadata": {"Shape": "round"}})
    assert_error(api.get(meta_path(sid, "Shape")), 404, NOT_FOUND)
    assert_status(api.get(meta_path(sid, "shape")), 200)


def test_get_missing_key_is_404(api, sid):
    assert_error(api.get(meta_path(sid, "nothing")), 404, NOT_FOUND)


def test_put_one_key_is_200(api, sid):
    api.put(meta_path(sid), json_body={"metadata": {"shape": "round",
                                                    "color": "red"}})
    resp = api.put(meta_path(sid, "shape"),
                   json_body={"key": "shape", "value": "square"})
    assert_status(resp, 200)
    assert_v1_headers(resp)
    assert_json_exact(resp, {"key": "shape", "value": "square"})
    assert "location" not in resp.headers
    assert user_metadata(api, sid) == {"shape": "square", "color": "red"}


def test_put_missing_key_is_404(api, sid):
    resp = api.put(meta_path(sid, "nothing"),
                   json_body={"key": "nothing", "value": "x"})
    assert_error(resp, 404, NOT_FOUND)
    assert user_metadata(api, sid) == {}


def test_put_key_not_matching_url_is_409(api, sid):
    api.put(meta_path(sid), json_body={"metadata": {"shape": "round"}})
    resp = api.put(meta_path(sid, "shape"),
                   json_body={"key": "other", "value": "x"})
    # Barbican's message really stops there (a broken string concatenation)
    assert_error(resp, 409, "Key in request data does not match key in the ")
    assert user_metadata(api, sid) == {"shape": "round"}


def test_delete_one_key(api, sid):
    api.put(meta_path(sid), json_body={"metadata": {"shape": "round",
                                                    "color": "red"}})
    resp = api.delete(meta_path(sid, "shape"))
    assert_no_content(resp)
    assert_v1_headers(resp)
    assert_error(api.get(meta_path(sid, "shape")), 404, NOT_FOUND)
    assert user_metadata(api, sid) == {"color": "red"}


def test_delete_missing_key_is_204(api, sid):
    # Barbican does not check that the key exists
    assert_no_content(api.delete(meta_path(sid, "nothing")))


def test_post_then_put_of_the_whole_set_drops_it(api, sid):
    api.post(meta_path(sid), json_body={"key": "a", "value": "1"})
    api.put(meta_path(sid), json_body={"metadata": {"b": "2"}})
    assert_error(api.get(meta_path(sid, "a")), 404, NOT_FOUND)


LONG = "k" * 256


@pytest.mark.parametrize("body,description", [
    ({"key": "k", "value": "v", "x": 1}, schema_msg(
        "SecretMetadatum",
        "Additional properties are not allowed ('x' was unexpected)",
        "None")),
    ({"key": "k"}, schema_msg("SecretMetadatum",
                              "'value' is a required property", "value")),
    ({"value": "v"}, schema_msg("SecretMetadatum",
                                "'key' is a required property", "key")),
    ({"key": LONG, "value": "v"}, schema_msg(
        "SecretMetadatum", "'%s' is too long" % LONG, "key")),
    ({"key": "k", "value": "v" * 256}, schema_msg(
        "SecretMetadatum", "'%s' is too long" % ("v" * 256), "value")),
    ({"key": "k", "value": 1}, schema_msg(
        "SecretMetadatum", "1 is not of type 'string'", "value")),
    ({"key": 1, "value": "v"}, schema_msg(
        "SecretMetadatum", "1 is not of type 'string'", "key")),
    ({"key": "a b", "value": "v"}, NOT_URL_SAFE),
    ({"key": "a%2Fb", "value": "v"}, NOT_URL_SAFE),
])
def test_post_validation(api, sid, body, description):
    resp = api.post(meta_path(sid), json_body=body)
    assert_error(resp, 400, description)
    assert user_metadata(api, sid) == {}


def test_post_255_characters_is_the_limit(api, sid):
    key, value = "k" * 255, "v" * 255
    resp = api.post(meta_path(sid), json_body={"key": key, "value": value})
    assert_status(resp, 201)
    assert user_metadata(api, sid) == {key: value}


def test_put_one_key_validation(api, sid):
    api.put(meta_path(sid), json_body={"metadata": {"shape": "round"}})
    resp = api.put(meta_path(sid, "shape"),
                   json_body={"key": "shape", "value": "x", "extra": 1})
    assert_error(resp, 400, schema_msg(
        "SecretMetadatum",
        "Additional properties are not allowed ('extra' was unexpected)",
        "None"))
    resp = api.put(meta_path(sid, "shape"),
                   json_body={"key": "shape", "value": "v" * 256})
    assert_error(resp, 400, schema_msg(
        "SecretMetadatum", "'%s' is too long" % ("v" * 256), "value"))
    assert user_metadata(api, sid) == {"shape": "round"}


def test_post_needs_json(api, sid):
    resp = api.post(meta_path(sid), data=b'{"key": "a", "value": "b"}',
                    content_type="text/plain")
    assert_error(resp, 415, JSON_ONLY)


# ---------------------------------------------------------------------------
# Routing and unknown secrets
# ---------------------------------------------------------------------------

def test_delete_on_the_whole_set_is_405(api, sid):
    resp = api.delete(meta_path(sid))
    assert_error(resp, 405, "")
    assert resp.headers.get("allow") == "GET, POST, PUT"


def test_post_on_one_key_is_405(api, sid):
    # what python-barbicanclient's add_secret_metadata() sends
    resp = api.post(meta_path(sid, "shape"),
                    json_body={"key": "shape", "value": "round"})
    assert_error(resp, 405, "")
    assert user_metadata(api, sid) == {}


@pytest.mark.parametrize("method,key", [("GET", None), ("PUT", None),
                                        ("POST", None), ("GET", "k"),
                                        ("DELETE", "k")])
@pytest.mark.parametrize("secret_id,description", [
    ("0b4c8f51-6a3e-4f7e-9c59-2f7d8e1a0c3b", "Secret not found."),
    ("not-a-uuid", "Not Found. Provided secret id is invalid."),
])
def test_unknown_secret_is_404(api, method, key, secret_id, description):
    body = ({"metadata": {}} if method == "PUT"
            else {"key": "k", "value": "v"} if method == "POST" else None)
    kw = {} if body is None else {"json_body": body}
    resp = api.request(method, meta_path(secret_id, key), **kw)
    assert_error(resp, 404, description)


def test_deleted_secret_is_404(api, sid):
    api.put(meta_path(sid), json_body={"metadata": {"a": "b"}})
    assert_no_content(api.delete("/v1/secrets/%s" % sid))
    assert_error(api.get(meta_path(sid)), 404, "Secret not found.")
