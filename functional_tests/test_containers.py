"""Containers: ``/v1/containers``, ``/v1/containers/{id}`` and
``/v1/containers/{id}/secrets``.

A container groups secret references under names. ``generic`` containers
take any names; ``rsa`` and ``certificate`` containers take fixed names. The
order of ``secret_refs`` as stored is not part of the contract, so lists of
references are compared sorted by name.
"""
import pytest

from conftest import (CONTAINER_KEYS, JSON_ONLY, TIMESTAMP_RE, assert_error,
                      assert_json_content_type, assert_json_exact,
                      assert_no_content, assert_status, assert_v1_headers,
                      denied, new_user_id, parse_json, same_json_with_order,
                      schema_msg)

NOT_FOUND = "Secrets container not found."
INVALID_ID = "Not Found. Provided container id is invalid."
UNKNOWN_ID = "5c3e1f0a-8d2b-4e6f-a1c9-7b0d2e4f6a83"


def by_name(refs):
    return sorted(refs, key=lambda r: (r["name"] is None, r["name"] or "",
                                       r["secret_ref"]))


def ref(name, secret_ref):
    return {"name": name, "secret_ref": secret_ref}


def container_error(reason, prop="secret_refs"):
    return schema_msg("Container", reason, prop)


@pytest.fixture
def secrets(api):
    """Three secrets of the test's project: their refs."""
    return [api.create_secret()[1] for _ in range(3)]


# ---------------------------------------------------------------------------
# Create and read
# ---------------------------------------------------------------------------

def test_create_generic(api, secrets):
    resp = api.post("/v1/containers", json_body={
        "type": "generic", "name": "c1",
        "secret_refs": [ref("s", secrets[0])]})
    assert_status(resp, 201)
    assert_json_content_type(resp)
    assert_v1_headers(resp)
    body = parse_json(resp)
    assert list(body.keys()) == ["container_ref"]
    cref = body["container_ref"]
    assert cref.startswith(api.base + "/v1/containers/")
    assert resp.headers.get("location") == cref


def test_get_has_barbicans_shape(api, secrets):
    cid, cref = api.create_container({
        "type": "generic", "name": "c1",
        "secret_refs": [ref("s", secrets[0])]})
    resp = api.get("/v1/containers/%s" % cid)
    assert_status(resp, 200)
    assert_json_content_type(resp)
    assert_v1_headers(resp)
    body = parse_json(resp)
    assert list(body.keys()) == CONTAINER_KEYS
    assert TIMESTAMP_RE.match(body["created"])
    assert TIMESTAMP_RE.match(body["updated"])
    expected = {
        "created": body["created"], "updated": body["updated"],
        "status": "ACTIVE", "name": "c1", "type": "generic",
        "creator_id": api.creator_id(),
        "secret_refs": [ref("s", secrets[0])],
        "consumers": [], "container_ref": cref,
    }
    assert same_json_with_order(body, expected)


def test_creator_id_is_the_user_id_header(api):
    maker = new_user_id()
    cid, _ = api.create_container(user=maker)
    assert api.container(cid)["creator_id"] == maker


def test_generic_with_several_refs_and_the_same_secret_twice(api, secrets):
    refs = [ref("a", secrets[0]), ref("b", secrets[1]), ref("c", secrets[2])]
    cid, _ = api.create_container({"type": "generic", "name": "g",
                                   "secret_refs": refs})
    body = api.container(cid)
    assert by_name(body["secret_refs"]) == refs
    for item in body["secret_refs"]:
        assert list(item.keys()) == ["name", "secret_ref"]


def test_name_is_optional_and_null(api):
    cid, _ = api.create_container({"type": "generic"})
    assert api.container(cid)["name"] is None
    cid, _ = api.create_container({"type": "generic", "name": None})
    assert api.container(cid)["name"] is None


def test_ref_name_is_optional_and_null(api, secrets):
    cid, _ = api.create_container({"type": "generic",
                                   "secret_refs": [{"secret_ref":
                                                    secrets[0]}]})
    assert api.container(cid)["secret_refs"] == [ref(None, secrets[0])]


def test_unknown_fields_are_ignored(api):
    cid, _ = api.create_container({"type": "generic", "name": "x",
                                   "bogus": 1})
    assert list(api.container(cid).keys()) == CONTAINER_KEYS


@pytest.mark.parametrize("names", [
    ["private_key", "public_key"],
    ["private_key", "public_key", "private_key_passphrase"],
])
def test_rsa_container(api, secrets, names):
    refs = [ref(n, s) for n, s in zip(names, secrets)]
    cid, _ = api.create_container({"type": "rsa", "name": "r",
                                   "secret_refs": refs})
    body = api.container(cid)
    assert body["type"] == "rsa"
    assert by_name(body["secret_refs"]) == by_name(refs)


@pytest.mark.parametrize("names", [
    ["certificate"],
    ["certificate", "private_key", "private_key_passphrase"],
    ["certificate", "intermediates", "private_key"],
])
def test_certificate_container(api, secrets, names):
    refs = [ref(n, s) for n, s in zip(names, secrets)]
    cid, _ = api.create_container({"type": "certificate", "name": "cert",
                                   "secret_refs": refs})
    body = api.container(cid)
    assert body["type"] == "certificate"
    assert by_name(body["secret_refs"]) == by_name(refs)


@pytest.mark.parametrize("ctype", ["rsa", "certificate"])
def test_typed_container_without_refs_is_accepted(api, ctype):
    # the name rules only apply when secret_refs is not empty
    cid, _ = api.create_container({"type": ctype, "name": "empty",
                                   "secret_refs": []})
    assert api.container(cid)["secret_refs"] == []
    cid, _ = api.create_container({"type": ctype})
    assert api.container(cid)["type"] == ctype


def test_secret_ref_with_trailing_slash(api, secrets):
    cid, _ = api.create_container({"type": "generic", "secret_refs": [
        ref("s", secrets[0] + "/")]})
    assert api.container(cid)["secret_refs"] == [ref("s", secrets[0])]


def test_secrets_stay_readable_and_unchanged(api):
    sid, sref = api.create_secret()
    api.create_container({"type": "generic", "secret_refs": [ref("s", sref)]})
    assert api.payload(sid, accept="text/plain") == b"s3cr3t"


# ---------------------------------------------------------------------------
# Create: validation
# ---------------------------------------------------------------------------

def _bad(type_, *pairs, name="c"):
    return {"type": type_, "name": name,
            "secret_refs": [{"name": n, "secret_ref": i} for n, i in pairs]}


@pytest.mark.parametrize("make_body,description", [
    (lambda s: {"type": "bogus", "name": "c"}, container_error(
        "'bogus' is not one of ['generic', 'rsa', 'certificate']", "type")),
    (lambda s: {"name": "c"}, container_error(
        "'type' is a required property", "None")),
    (lambda s: {"type": "generic", "name": 5}, container_error(
        "5 is not of type 'string', 'null'", "name")),
    (lambda s: {"type": "generic", "name": "n" * 256}, container_error(
        "'%s' is too long" % ("n" * 256), "name")),
    (lambda s: {"type": "generic", "secret_refs": "x"}, container_error(
        "'x' is not of type 'array'", "secret_refs")),
    (lambda s: {"type": "generic", "secret_refs": [{"name": "a"}]},
     container_error("'secret_ref' is a required property")),
    (lambda s: _bad("generic", ("a", s[0]), ("a", s[1])),
     container_error("Duplicate reference names are not allowed")),
    (lambda s: _bad("generic", ("a", s[0]), ("b", s[0])),
     container_error("Duplicate secret ids are not allowed")),
    (lambda s: _bad("rsa", ("private_key", s[0]), ("bogus", s[1])),
     container_error(
         "only 'private_key', 'public_key' and 'private_key_passphrase' "
         "reference names are allowed for RSA type")),
    (lambda s: _bad("rsa", ("private_key", s[0])), container_error(
        "The minimum required reference names are 'public_key' "
        "and'private_key' for RSA type")),
    (lambda s: _bad("rsa", ("public_key", s[0]),
                    ("private_key_passphrase", s[1])), container_error(
        "The minimum required reference names are 'public_key' "
        "and'private_key' for RSA type")),
    (lambda s: _bad("certificate", ("certificate", s[0]), ("x", s[1])),
     container_error(
         "only 'private_key', 'certificate' , 'private_key_passphrase',  "
         "or 'intermediates' reference names are allowed for Certificate "
         "type")),
    (lambda s: _bad("certificate", ("private_key", s[0])), container_error(
        "The minimum required reference name is 'certificate' for "
        "Certificate type")),
    (lambda s: [1], container_error("[1] is not of type 'object'", "None")),
], ids=["bad-type", "no-type", "name-int", "name-long", "refs-not-list",
        "ref-without-secret_ref", "duplicate-names", "duplicate-secrets",
        "rsa-bad-name", "rsa-no-public", "rsa-no-private", "cert-bad-name",
        "cert-no-certificate", "array"])
def test_invalid_container(api, secrets, make_body, description):
    resp = api.post("/v1/containers", json_body=make_body(secrets))
    assert_error(resp, 400, description)
    assert parse_json(api.get("/v1/containers"))["total"] == 0


@pytest.mark.parametrize("host", ["http://evil.example", "https://127.0.0.1"])
def test_secret_ref_on_another_host_is_400(api, host):
    sid, sref = api.create_secret()
    foreign = host + "/v1/secrets/" + sid
    resp = api.post("/v1/containers",
                    json_body=_bad("generic", ("s", foreign)))
    assert_error(resp, 400, "Provided field value is not supported")


def test_bare_secret_id_is_400(api):
    sid, _ = api.create_secret()
    resp = api.post("/v1/containers", json_body=_bad("generic", ("s", sid)))
    assert_error(resp, 400, "Provided field value is not supported")


def test_unknown_secret_is_404(api, secrets):
    missing = api.base + "/v1/secrets/" + UNKNOWN_ID
    resp = api.post("/v1/containers", json_body=_bad(
        "generic", ("ok", secrets[0]), ("s", missing)))
    assert_error(resp, 404, "Secret provided for 's' doesn't exist.")
    assert parse_json(api.get("/v1/containers"))["total"] == 0


def test_another_projects_secret_is_404(api, make_api):
    _, foreign = make_api().create_secret()
    resp = api.post("/v1/containers",
                    json_body=_bad("generic", ("theirs", foreign)))
    assert_error(resp, 404, "Secret provided for 'theirs' doesn't exist.")


def test_deleted_secret_is_404(api):
    sid, sref = api.create_secret()
    assert_no_content(api.delete("/v1/secrets/%s" % sid))
    resp = api.post("/v1/containers", json_body=_bad("generic", ("d", sref)))
    assert_error(resp, 404, "Secret provided for 'd' doesn't exist.")


def test_create_needs_json(api):
    resp = api.post("/v1/containers", data=b'{"type": "generic"}',
                    content_type="text/plain")
    assert_error(resp, 415, JSON_ONLY)


def test_create_malformed_json(api):
    resp = api.post("/v1/containers", data=b"{nope",
                    content_type="application/json")
    assert_error(resp, 400, "Malformed JSON")


# ---------------------------------------------------------------------------
# List
# ---------------------------------------------------------------------------

def listing(api, query=""):
    resp = api.get("/v1/containers" + query)
    assert_status(resp, 200)
    assert_json_content_type(resp)
    return parse_json(resp)


def names(body):
    return [c["name"] for c in body["containers"]]


@pytest.fixture
def five(api):
    types = ["generic", "rsa", "generic", "certificate", "generic"]
    return [api.create_container({"type": t, "name": "c%d" % i})[0]
            for i, t in enumerate(types)]


def test_empty_list(api):
    resp = api.get("/v1/containers")
    assert_v1_headers(resp)
    assert_json_exact(resp, {"containers": [], "total": 0})


def test_list_items_are_the_container_objects(api, five):
    body = listing(api)
    assert list(body.keys()) == ["containers", "total"]
    assert body["total"] == 5
    assert names(body) == ["c0", "c1", "c2", "c3", "c4"]
    for item, cid in zip(body["containers"], five):
        assert same_json_with_order(item, api.container(cid))


@pytest.mark.parametrize("query,expect_names,prev,nxt", [
    ("?limit=2&offset=0", ["c0", "c1"], None, "limit=2&offset=2"),
    ("?limit=2&offset=2", ["c2", "c3"], "limit=2&offset=0",
     "limit=2&offset=4"),
    ("?limit=2&offset=4", ["c4"], "limit=2&offset=2", None),
    ("?limit=2&offset=10", [], None, None),
    ("?limit=0", ["c0"], None, "limit=1&offset=1"),
    ("?limit=2&offset=-1", ["c0", "c1"], None, "limit=2&offset=2"),
    ("?limit=abc", ["c0", "c1", "c2", "c3", "c4"], None, None),
    ("?limit=1000", ["c0", "c1", "c2", "c3", "c4"], None, None),
])
def test_paging(api, five, query, expect_names, prev, nxt):
    body = listing(api, query)
    assert names(body) == expect_names
    keys = ["containers"]
    if prev:
        keys.append("previous")
        assert body["previous"] == api.base + "/v1/containers?" + prev
    if nxt:
        keys.append("next")
        assert body["next"] == api.base + "/v1/containers?" + nxt
    keys.append("total")
    assert list(body.keys()) == keys
    assert body["total"] == 5


def test_name_filter(api, five):
    api.create_container({"type": "generic", "name": "c1"})
    body = listing(api, "?name=c1")
    assert names(body) == ["c1", "c1"]
    assert body["total"] == 2
    assert listing(api, "?name=nope") == {"containers": [], "total": 0}


def test_type_filter(api, five):
    body = listing(api, "?type=generic")
    assert names(body) == ["c0", "c2", "c4"]
    assert body["total"] == 3
    assert names(listing(api, "?type=rsa")) == ["c1"]
    assert listing(api, "?type=bogus") == {"containers": [], "total": 0}


def test_paging_links_do_not_carry_the_filters(api, five):
    # unlike the secrets list, Barbican leaves the filters out of the links
    body = listing(api, "?type=generic&limit=1&offset=1")
    assert names(body) == ["c2"]
    assert body["previous"] == api.base + "/v1/containers?limit=1&offset=0"
    assert body["next"] == api.base + "/v1/containers?limit=1&offset=2"


def test_list_is_per_project(api, make_api, five):
    assert listing(make_api()) == {"containers": [], "total": 0}


# ---------------------------------------------------------------------------
# Adding and removing secrets
# ---------------------------------------------------------------------------

@pytest.fixture
def generic(api, secrets):
    cid, cref = api.create_container({"type": "generic", "name": "g",
                                      "secret_refs": [ref("a", secrets[0])]})
    return cid, cref


def test_add_secret(api, secrets, generic):
    cid, cref = generic
    resp = api.post("/v1/containers/%s/secrets" % cid,
                    json_body=ref("b", secrets[1]))
    assert_status(resp, 201)
    assert_v1_headers(resp)
    assert resp.headers.get("location") == cref
    assert_json_exact(resp, {"container_ref": cref})
    assert by_name(api.container(cid)["secret_refs"]) == [
        ref("a", secrets[0]), ref("b", secrets[1])]


def test_add_same_secret_under_another_name(api, secrets, generic):
    cid, _ = generic
    resp = api.post("/v1/containers/%s/secrets" % cid,
                    json_body=ref("again", secrets[0]))
    assert_status(resp, 201)
    assert by_name(api.container(cid)["secret_refs"]) == [
        ref("a", secrets[0]), ref("again", secrets[0])]


def test_add_without_name(api, secrets, generic):
    cid, _ = generic
    resp = api.post("/v1/containers/%s/secrets" % cid,
                    json_body={"secret_ref": secrets[2]})
    assert_status(resp, 201)
    assert ref(None, secrets[2]) in api.container(cid)["secret_refs"]


def test_add_existing_pair_is_409(api, secrets, generic):
    cid, _ = generic
    resp = api.post("/v1/containers/%s/secrets" % cid,
                    json_body=ref("a", secrets[0]))
    assert_error(resp, 409, (
        "Conflict. A secret with that name and ID is already stored in this "
        "container. The same secret can exist in a container as long as the "
        "name is unique."))
    assert api.container(cid)["secret_refs"] == [ref("a", secrets[0])]


@pytest.mark.parametrize("ctype,refs", [
    ("rsa", ["private_key", "public_key"]),
    ("certificate", ["certificate"]),
])
def test_only_generic_containers_can_be_modified(api, secrets, ctype, refs):
    cid, _ = api.create_container({"type": ctype, "secret_refs": [
        ref(n, s) for n, s in zip(refs, secrets)]})
    resp = api.post("/v1/containers/%s/secrets" % cid,
                    json_body=ref("extra", secrets[2]))
    assert_error(resp, 400, "Only 'generic' containers can be modified.")


def test_add_unknown_secret_is_404(api, generic):
    cid, _ = generic
    resp = api.post("/v1/containers/%s/secrets" % cid, json_body=ref(
        "x", api.base + "/v1/secrets/" + UNKNOWN_ID))
    assert_error(resp, 404, "Secret provided doesn't exist.")


def test_add_another_projects_secret_is_404(api, make_api, generic):
    cid, _ = generic
    _, foreign = make_api().create_secret()
    resp = api.post("/v1/containers/%s/secrets" % cid,
                    json_body=ref("x", foreign))
    assert_error(resp, 404, "Secret provided doesn't exist.")


@pytest.mark.parametrize("body,reason,prop", [
    ({"name": "x"}, "'secret_ref' is a required property", "None"),
    ({"name": "x", "secret_ref": ""}, "'' should be non-empty",
     "secret_ref"),
    ({"name": 1, "secret_ref": "x"}, "1 is not of type 'string'", "name"),
])
def test_add_invalid_body(api, generic, body, reason, prop):
    cid, _ = generic
    resp = api.post("/v1/containers/%s/secrets" % cid, json_body=body)
    assert_error(resp, 400, schema_msg("ContainerSecret", reason, prop))


def test_remove_secret(api, secrets, generic):
    cid, _ = generic
    api.post("/v1/containers/%s/secrets" % cid,
             json_body=ref("b", secrets[1]))
    resp = api.delete("/v1/containers/%s/secrets" % cid,
                      json_body=ref("a", secrets[0]))
    assert_no_content(resp)
    assert_v1_headers(resp)
    assert api.container(cid)["secret_refs"] == [ref("b", secrets[1])]
    # the secret itself is not deleted
    assert api.payload(secrets[0].rsplit("/", 1)[1],
                       accept="text/plain") == b"s3cr3t"


@pytest.mark.parametrize("which", ["twice", "wrong-name", "not-added"])
def test_remove_what_is_not_there_is_404(api, secrets, generic, which):
    cid, _ = generic
    if which == "twice":
        api.delete("/v1/containers/%s/secrets" % cid,
                   json_body=ref("a", secrets[0]))
        body = ref("a", secrets[0])
    elif which == "wrong-name":
        body = ref("b", secrets[0])
    else:
        body = ref("a", secrets[1])
    resp = api.delete("/v1/containers/%s/secrets" % cid, json_body=body)
    assert_error(resp, 404, "Secret provided is not in the container")


def test_remove_another_projects_secret_is_404(api, make_api, generic):
    cid, _ = generic
    _, foreign = make_api().create_secret()
    resp = api.delete("/v1/containers/%s/secrets" % cid,
                      json_body=ref("z", foreign))
    assert_error(resp, 404, "Secret 'z' with reference '%s' doesn't exist."
                 % foreign)


def test_secrets_subresource_methods(api, generic):
    cid, _ = generic
    resp = api.get("/v1/containers/%s/secrets" % cid)
    assert_error(resp, 405, "")
    assert resp.headers.get("allow") == "DELETE, POST"


# ---------------------------------------------------------------------------
# Delete, not found, routing
# ---------------------------------------------------------------------------

def test_delete(api, secrets, generic):
    cid, _ = generic
    resp = api.delete("/v1/containers/%s" % cid)
    assert_no_content(resp)
    assert_v1_headers(resp)
    assert_error(api.get("/v1/containers/%s" % cid), 404, NOT_FOUND)
    assert_error(api.delete("/v1/containers/%s" % cid), 404, NOT_FOUND)
    assert listing(api) == {"containers": [], "total": 0}
    # the secrets stay
    assert api.payload(secrets[0].rsplit("/", 1)[1],
                       accept="text/plain") == b"s3cr3t"


@pytest.mark.parametrize("method,suffix", [
    ("GET", ""), ("DELETE", ""), ("GET", "/acl"), ("GET", "/consumers"),
    ("POST", "/secrets"),
])
def test_malformed_id_is_404(api, secrets, method, suffix):
    kw = {"json_body": ref("a", secrets[0])} if method == "POST" else {}
    resp = api.request(method, "/v1/containers/not-a-uuid" + suffix, **kw)
    assert_error(resp, 404, INVALID_ID)


@pytest.mark.parametrize("method,suffix", [
    ("GET", ""), ("DELETE", ""), ("GET", "/acl"), ("GET", "/consumers"),
    ("POST", "/secrets"),
])
def test_unknown_id_is_404(api, secrets, method, suffix):
    kw = {"json_body": ref("a", secrets[0])} if method == "POST" else {}
    resp = api.request(method, "/v1/containers/%s%s" % (UNKNOWN_ID, suffix),
                       **kw)
    assert_error(resp, 404, NOT_FOUND)


def test_another_projects_container_is_403(api, make_api):
    cid, _ = api.create_container()
    other = make_api()
    assert_error(other.get("/v1/containers/%s" % cid), 403,
                 denied("Container retrieval"))
    assert_error(other.delete("/v1/containers/%s" % cid), 403,
                 denied("Container deletion"))
    api.container(cid)


def test_put_on_collection_is_405(api):
    resp = api.put("/v1/containers", json_body={})
    assert_error(resp, 405, "")
    assert resp.headers.get("allow") == "GET, POST"


def test_put_on_container_is_405(api):
    cid, _ = api.create_container()
    resp = api.put("/v1/containers/%s" % cid, json_body={"name": "x"})
    assert_error(resp, 405, "")
    assert resp.headers.get("allow") == "DELETE, GET"
