"""Consumers: services registering their use of a container or a secret.

Container consumers (``/v1/containers/{id}/consumers``) are ``{"name",
"URL"}`` pairs. Secret consumers (``/v1/secrets/{id}/consumers``, microversion
1.1) are ``{"service", "resource_type", "resource_id"}`` triples. Both answer
a registration with 200, the whole parent object and an odd ``Location``
(``/v1/consumers/{parent id}/consumers``), and are idempotent.

From microversion 1.2 a secret that has consumers cannot be deleted without
``?force=true``.
"""
import pytest

from conftest import (CONTAINER_KEYS, JSON_ONLY, METADATA_KEYS,
                      METADATA_KEYS_WITH_CONSUMERS, TIMESTAMP_RE,
                      assert_error, assert_json_content_type,
                      assert_json_exact, assert_no_content, assert_status,
                      assert_v1_headers, new_user_id, parse_json,
                      same_json_with_order, schema_msg)

V11 = "key-manager 1.1"
V12 = "key-manager 1.2"
NOT_FOUND = "Consumer not found."
CONTAINER_CONSUMER_KEYS = ["created", "updated", "status", "name", "URL"]
SECRET_CONSUMER_KEYS = ["created", "updated", "status", "service",
                        "resource_type", "resource_id"]
HAS_CONSUMERS = ("Secret deletion issue seen - Secret cannot be deleted as "
                 "it has consumers..")


def svc(name, url="http://svc.example/1"):
    return {"name": name, "URL": url}


def use(resource_id, service="image", resource_type="image"):
    return {"service": service, "resource_type": resource_type,
            "resource_id": resource_id}


def sorted_consumers(items):
    return sorted(items, key=lambda c: sorted(c.items()))


def consumers_page(api, path, query="", **kw):
    resp = api.get(path + query, **kw)
    assert_status(resp, 200)
    assert_json_content_type(resp)
    return parse_json(resp)


# ---------------------------------------------------------------------------
# Container consumers
# ---------------------------------------------------------------------------

@pytest.fixture
def container(api):
    _, sref = api.create_secret()
    cid, cref = api.create_container({
        "type": "generic", "name": "c1",
        "secret_refs": [{"name": "s", "secret_ref": sref}]})
    return cid


def cpath(cid):
    return "/v1/containers/%s/consumers" % cid


def test_register_container_consumer(api, container):
    resp = api.post(cpath(container), json_body=svc("svc"))
    assert_status(resp, 200)
    assert_json_content_type(resp)
    assert_v1_headers(resp)
    assert resp.headers.get("location") == (
        "%s/v1/consumers/%s/consumers" % (api.base, container))
    body = parse_json(resp)
    assert list(body.keys()) == CONTAINER_KEYS
    assert body["consumers"] == [svc("svc")]
    assert list(body["consumers"][0].keys()) == ["name", "URL"]
    # the body is the container as GET shows it now
    assert same_json_with_order(body, api.container(container))


def test_registration_is_idempotent(api, container):
    for _ in range(3):
        assert_status(api.post(cpath(container), json_body=svc("svc")), 200)
    assert api.container(container)["consumers"] == [svc("svc")]
    assert consumers_page(api, cpath(container))["total"] == 1


def test_name_and_url_make_a_consumer(api, container):
    for body in (svc("a", "u1"), svc("a", "u2"), svc("b", "u1")):
        assert_status(api.post(cpath(container), json_body=body), 200)
    assert sorted_consumers(api.container(container)["consumers"]) == \
        sorted_consumers([svc("a", "u1"), svc("a", "u2"), svc("b", "u1")])


def test_list_container_consumers(api, container):
    api.post(cpath(container), json_body=svc("svc"))
    resp = api.get(cpath(container))
    assert_status(resp, 200)
    assert_v1_headers(resp)
    body = parse_json(resp)
    assert list(body.keys()) == ["consumers", "total"]
    assert body["total"] == 1
    item = body["consumers"][0]
    assert list(item.keys()) == CONTAINER_CONSUMER_KEYS
    assert TIMESTAMP_RE.match(item["created"])
    assert TIMESTAMP_RE.match(item["updated"])
    assert (item["status"], item["name"], item["URL"]) == (
        "ACTIVE", "svc", "http://svc.example/1")


def test_empty_consumer_list(api, container):
    assert_json_exact(api.get(cpath(container)),
                      {"consumers": [], "total": 0})


def test_container_consumers_are_listed_by_name(api, container):
    for name in ("bravo", "charlie", "alpha"):
        api.post(cpath(container), json_body=svc(name))
    body = consumers_page(api, cpath(container))
    assert [c["name"] for c in body["consumers"]] == [
        "alpha", "bravo", "charlie"]


def test_container_consumer_paging(api, container):
    for name in ("a", "b", "c"):
        api.post(cpath(container), json_body=svc(name))
    link = api.base + cpath(container) + "?"
    body = consumers_page(api, cpath(container), "?limit=1&offset=1")
    assert list(body.keys()) == ["consumers", "previous", "next", "total"]
    assert [c["name"] for c in body["consumers"]] == ["b"]
    assert body["previous"] == link + "limit=1&offset=0"
    assert body["next"] == link + "limit=1&offset=2"
    assert body["total"] == 3
    body = consumers_page(api, cpath(container), "?limit=2")
    assert list(body.keys()) == ["consumers", "next", "total"]
    assert body["next"] == link + "limit=2&offset=2"
    body = consumers_page(api, cpath(container), "?limit=2&offset=5")
    assert body == {"consumers": [], "total": 3}


def test_remove_container_consumer(api, container):
    api.post(cpath(container), json_body=svc("keep"))
    api.post(cpath(container), json_body=svc("drop"))
    resp = api.delete(cpath(container), json_body=svc("drop"))
    assert_status(resp, 200)
    assert_json_content_type(resp)
    assert_v1_headers(resp)
    body = parse_json(resp)
    assert list(body.keys()) == CONTAINER_KEYS
    assert body["consumers"] == [svc("keep")]
    assert same_json_with_order(body, api.container(container))
    assert [c["name"] for c in consumers_page(
        api, cpath(container))["consumers"]] == ["keep"]


@pytest.mark.parametrize("which", ["unknown", "twice", "other-url"])
def test_remove_unknown_container_consumer_is_404(api, container, which):
    api.post(cpath(container), json_body=svc("svc"))
    if which == "twice":
        api.delete(cpath(container), json_body=svc("svc"))
        body = svc("svc")
    elif which == "other-url":
        body = svc("svc", "http://elsewhere.example")
    else:
        body = svc("nobody")
    assert_error(api.delete(cpath(container), json_body=body), 404,
                 NOT_FOUND)


def test_register_again_after_removal(api, container):
    api.post(cpath(container), json_body=svc("svc"))
    api.delete(cpath(container), json_body=svc("svc"))
    assert_status(api.post(cpath(container), json_body=svc("svc")), 200)
    assert api.container(container)["consumers"] == [svc("svc")]
    assert consumers_page(api, cpath(container))["total"] == 1


@pytest.mark.parametrize("body,reason,prop", [
    ({"name": "svc"}, "'URL' is a required property", "None"),
    ({"URL": "http://x"}, "'name' is a required property", "None"),
    ({"name": "", "URL": "http://x"}, "'' should be non-empty", "name"),
    ({"name": "svc", "URL": ""}, "'' should be non-empty", "URL"),
    ({"name": "n" * 37, "URL": "http://x"}, "'%s' is too long" % ("n" * 37),
     "name"),
    ({"name": "svc", "URL": "u" * 256}, "'%s' is too long" % ("u" * 256),
     "URL"),
    ({"name": 1, "URL": "http://x"}, "1 is not of type 'string'", "name"),
])
@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_invalid_container_consumer(api, container, method, body, reason,
                                    prop):
    resp = api.request(method, cpath(container), json_body=body)
    assert_error(resp, 400, schema_msg("Consumer", reason, prop))
    assert api.container(container)["consumers"] == []


def test_name_of_36_characters_is_the_limit(api, container):
    assert_status(api.post(cpath(container),
                           json_body=svc("n" * 36, "u" * 255)), 200)


def test_container_consumer_needs_json(api, container):
    resp = api.post(cpath(container), data=b'{"name": "a", "URL": "b"}',
                    content_type="text/plain")
    assert_error(resp, 415, JSON_ONLY)


def test_container_consumers_methods(api, container):
    resp = api.put(cpath(container), json_body=svc("svc"))
    assert_error(resp, 405, "")
    assert resp.headers.get("allow") == "DELETE, GET, POST"


def test_container_with_consumers_can_be_deleted(api, container):
    api.post(cpath(container), json_body=svc("svc"))
    assert_no_content(api.delete("/v1/containers/%s" % container))
    assert_error(api.get(cpath(container)), 404,
                 "Secrets container not found.")


def test_consumer_of_another_project_via_acl_is_theirs_to_remove(
        api, make_api, container):
    # An ACL reader from another project may register and remove its own
    # consumer, but not one registered by the container's project.
    reader = new_user_id()
    api.put("/v1/containers/%s/acl" % container,
            json_body={"read": {"users": [reader]}})
    api.post(cpath(container), json_body=svc("owners"))
    other = make_api()
    resp = other.post(cpath(container), json_body=svc("theirs"),
                      user=reader, roles="observer")
    assert_status(resp, 200)
    resp = other.delete(cpath(container), json_body=svc("owners"),
                        user=reader, roles="observer")
    assert_error(resp, 403, "Not Allowed. Sorry, only the creator of a "
                            "consumer can delete it.")
    resp = other.delete(cpath(container), json_body=svc("theirs"),
                        user=reader, roles="observer")
    assert_status(resp, 200)
    assert api.container(container)["consumers"] == [svc("owners")]


# ---------------------------------------------------------------------------
# Secret consumers
# ---------------------------------------------------------------------------

@pytest.fixture
def secret(api):
    return api.create_secret({
        "name": "aes key", "secret_type": "symmetric", "algorithm": "aes",
        "bit_length": 256, "mode": "cbc",
        "payload": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64"})[0]


def spath(sid):
    return "/v1/secrets/%s/consumers" % sid


def metadata_v(api, sid, version):
    resp = api.get("/v1/secrets/%s" % sid, accept="application/json",
                   api_version=version)
    assert_status(resp, 200)
    return parse_json(resp)


def test_register_secret_consumer(api, secret):
    resp = api.post(spath(secret), json_body=use("img-1"), api_version=V11)
    assert_status(resp, 200)
    assert_json_content_type(resp)
    assert_v1_headers(resp, "1.1")
    assert resp.headers.get("location") == (
        "%s/v1/consumers/%s/consumers" % (api.base, secret))
    body = parse_json(resp)
    assert list(body.keys()) == METADATA_KEYS_WITH_CONSUMERS
    assert body["consumers"] == [use("img-1")]
    assert list(body["consumers"][0].keys()) == [
        "service", "resource_type", "resource_id"]
    assert same_json_with_order(body, metadata_v(api, secret, V11))


def test_register_without_microversion_still_shows_consumers(api, secret):
    # the routes answer at 1.0 as well, and the body has "consumers"
    resp = api.post(spath(secret), json_body=use("img-1"))
    assert_status(resp, 200)
    assert_v1_headers(resp, "1.0")
    body = parse_json(resp)
    assert list(body.keys()) == METADATA_KEYS_WITH_CONSUMERS
    assert body["consumers"] == [use("img-1")]


def test_secret_consumers_appear_in_metadata_from_1_1(api, secret):
    api.post(spath(secret), json_body=use("img-1"), api_version=V11)
    assert list(metadata_v(api, secret, None).keys()) == METADATA_KEYS
    for version in (V11, V12):
        body = metadata_v(api, secret, version)
        assert list(body.keys()) == METADATA_KEYS_WITH_CONSUMERS
        assert body["consumers"] == [use("img-1")]


def test_secret_list_shows_consumers_from_1_1(api, secret):
    api.post(spath(secret), json_body=use("img-1"), api_version=V11)
    resp = api.get("/v1/secrets", api_version=V11)
    assert parse_json(resp)["secrets"][0]["consumers"] == [use("img-1")]
    resp = api.get("/v1/secrets")
    assert "consumers" not in parse_json(resp)["secrets"][0]


def test_secret_registration_is_idempotent(api, secret):
    for _ in range(3):
        api.post(spath(secret), json_body=use("img-1"), api_version=V11)
    assert metadata_v(api, secret, V11)["consumers"] == [use("img-1")]
    assert consumers_page(api, spath(secret), api_version=V11)["total"] == 1


def test_list_secret_consumers(api, secret):
    api.post(spath(secret), json_body=use("img-1"), api_version=V11)
    resp = api.get(spath(secret), api_version=V11)
    assert_status(resp, 200)
    assert_v1_headers(resp, "1.1")
    body = parse_json(resp)
    assert list(body.keys()) == ["consumers", "total"]
    item = body["consumers"][0]
    assert list(item.keys()) == SECRET_CONSUMER_KEYS
    assert TIMESTAMP_RE.match(item["created"])
    assert (item["status"], item["service"], item["resource_type"],
            item["resource_id"]) == ("ACTIVE", "image", "image", "img-1")
    assert body["total"] == 1


def test_list_secret_consumers_without_microversion(api, secret):
    api.post(spath(secret), json_body=use("img-1"), api_version=V11)
    resp = api.get(spath(secret))
    assert_status(resp, 200)
    assert_v1_headers(resp, "1.0")
    assert parse_json(resp)["total"] == 1


def test_secret_consumers_are_listed_in_creation_order(api, secret):
    for rid in ("img-c", "img-a", "img-b"):
        api.post(spath(secret), json_body=use(rid), api_version=V11)
    body = consumers_page(api, spath(secret), api_version=V11)
    assert [c["resource_id"] for c in body["consumers"]] == [
        "img-c", "img-a", "img-b"]


def test_secret_consumer_paging(api, secret):
    for rid in ("r0", "r1", "r2"):
        api.post(spath(secret), json_body=use(rid), api_version=V11)
    link = api.base + spath(secret) + "?"
    body = consumers_page(api, spath(secret), "?limit=1&offset=1",
                          api_version=V11)
    assert list(body.keys()) == ["consumers", "previous", "next", "total"]
    assert [c["resource_id"] for c in body["consumers"]] == ["r1"]
    assert body["previous"] == link + "limit=1&offset=0"
    assert body["next"] == link + "limit=1&offset=2"
    assert body["total"] == 3


def test_remove_secret_consumer(api, secret):
    api.post(spath(secret), json_body=use("img-1"), api_version=V11)
    api.post(spath(secret), json_body=use("img-2"), api_version=V11)
    resp = api.delete(spath(secret), json_body=use("img-1"), api_version=V11)
    assert_status(resp, 200)
    assert_v1_headers(resp, "1.1")
    body = parse_json(resp)
    assert list(body.keys()) == METADATA_KEYS_WITH_CONSUMERS
    assert body["consumers"] == [use("img-2")]
    assert same_json_with_order(body, metadata_v(api, secret, V11))


@pytest.mark.parametrize("which", ["unknown", "twice", "other-type"])
def test_remove_unknown_secret_consumer_is_404(api, secret, which):
    api.post(spath(secret), json_body=use("img-1"), api_version=V11)
    if which == "twice":
        api.delete(spath(secret), json_body=use("img-1"), api_version=V11)
        body = use("img-1")
    elif which == "other-type":
        body = use("img-1", resource_type="volume")
    else:
        body = use("nope")
    resp = api.delete(spath(secret), json_body=body, api_version=V11)
    assert_error(resp, 404, NOT_FOUND, v1=False)
    assert_v1_headers(resp, "1.1")


@pytest.mark.parametrize("body,reason,prop", [
    ({"service": "s", "resource_type": "t"},
     "'resource_id' is a required property", "None"),
    ({"resource_type": "t", "resource_id": "i"},
     "'service' is a required property", "None"),
    ({"service": "", "resource_type": "t", "resource_id": "i"},
     "'' should be non-empty", "service"),
    ({"service": "s", "resource_type": "t", "resource_id": ""},
     "'' should be non-empty", "resource_id"),
    ({"service": "s" * 256, "resource_type": "t", "resource_id": "i"},
     "'%s' is too long" % ("s" * 256), "service"),
    ({"service": "s", "resource_type": "t" * 256, "resource_id": "i"},
     "'%s' is too long" % ("t" * 256), "resource_type"),
    ({"service": "s", "resource_type": "t", "resource_id": 5},
     "5 is not of type 'string'", "resource_id"),
])
def test_invalid_secret_consumer(api, secret, body, reason, prop):
    resp = api.post(spath(secret), json_body=body, api_version=V11)
    assert_error(resp, 400, schema_msg("Secret Consumer", reason, prop),
                 v1=False)
    assert metadata_v(api, secret, V11)["consumers"] == []


def test_secret_consumer_needs_json(api, secret):
    resp = api.post(spath(secret), data=b"{}", content_type="text/plain")
    assert_error(resp, 415, JSON_ONLY)


def test_secret_consumers_methods(api, secret):
    resp = api.put(spath(secret), json_body=use("x"))
    assert_error(resp, 405, "")
    assert resp.headers.get("allow") == "DELETE, GET, POST"


# ---------------------------------------------------------------------------
# Deleting a secret that has consumers
# ---------------------------------------------------------------------------

@pytest.fixture
def consumed(api, secret):
    api.post(spath(secret), json_body=use("img-1"), api_version=V11)
    return secret


@pytest.mark.parametrize("version", [None, "key-manager 1.0", V11])
def test_consumed_secret_is_deleted_before_1_2(api, consumed, version):
    resp = api.delete("/v1/secrets/%s" % consumed, api_version=version)
    assert_no_content(resp)
    assert_error(api.get("/v1/secrets/%s" % consumed), 404,
                 "Secret not found.")


@pytest.mark.parametrize("query", ["", "?force=false", "?force=no"])
def test_consumed_secret_is_kept_from_1_2(api, consumed, query):
    resp = api.delete("/v1/secrets/%s%s" % (consumed, query),
                      api_version=V12)
    assert_error(resp, 400, HAS_CONSUMERS, v1=False)
    assert_v1_headers(resp, "1.2")
    assert metadata_v(api, consumed, V11)["consumers"] == [use("img-1")]


@pytest.mark.parametrize("force", ["true", "True", "1", "yes", "on"])
def test_force_deletes_a_consumed_secret(api, consumed, force):
    resp = api.delete("/v1/secrets/%s?force=%s" % (consumed, force),
                      api_version=V12)
    assert_no_content(resp)
    assert_error(api.get("/v1/secrets/%s" % consumed), 404,
                 "Secret not found.")


def test_invalid_force_is_400_from_1_2(api, consumed):
    resp = api.delete("/v1/secrets/%s?force=maybe" % consumed,
                      api_version=V12)
    assert_error(resp, 400, "URI provided invalid query string parameters.",
                 v1=False)


def test_secret_without_consumers_is_deleted_at_1_2(api, consumed):
    api.delete(spath(consumed), json_body=use("img-1"), api_version=V11)
    assert_no_content(api.delete("/v1/secrets/%s" % consumed,
                                 api_version=V12))
