"""Secret stores with multiple backends enabled.

Runs only with ``COFFER_MULTISTORE=1``, against a Coffer configured with two
stores, both ``store_crypto`` + ``simple_crypto``: ``software`` (the global
default) and ``software-b`` (or the stores ``COFFER_STORES`` names). Most tests only assume "two or more stores, one
of them the global default"; the two marked Coffer-only below depend on that
exact configuration.

A store object has Barbican's fields (``created``, ``updated``, ``status``,
``crypto_plugin``, ``global_default``, ``name``, ``secret_store_plugin``,
``secret_store_ref``, in that order); Coffer may add fields of its own, so
the checks are on those fields and their relative order only.
"""
import os

import pytest

from conftest import (TIMESTAMP_RE, assert_error, assert_no_content,
                      assert_status, assert_v1_headers, denied, parse_json)

pytestmark = [
    pytest.mark.multistore,
    pytest.mark.skipif(os.environ.get("COFFER_MULTISTORE") != "1",
                       reason="needs an instance with several secret stores "
                              "(set COFFER_MULTISTORE=1)"),
]

STORE_KEYS = ["created", "updated", "status", "crypto_plugin",
              "global_default", "name", "secret_store_plugin",
              "secret_store_ref"]
NO_PREFERRED = "Not Found. No preferred secret store defined for this project."
NOT_FOUND = "Not Found. Secret store not found."
UNKNOWN_ID = "6d0c2b9a-1e3f-4a5b-8c7d-9e0f1a2b3c4d"


def barbican_fields(store):
    """The store with only Barbican's fields, in their order."""
    keys = [k for k in store if k in STORE_KEYS]
    assert keys == STORE_KEYS, list(store)
    return {k: store[k] for k in STORE_KEYS}


def store_id(store):
    return store["secret_store_ref"].rsplit("/", 1)[1]


@pytest.fixture
def stores(api):
    resp = api.get("/v1/secret-stores")
    assert_status(resp, 200)
    body = parse_json(resp)
    assert list(body.keys()) == ["secret_stores"]
    return body["secret_stores"]


@pytest.fixture
def default_store(stores):
    return [s for s in stores if s["global_default"]][0]


@pytest.fixture
def other_store(stores):
    return [s for s in stores if not s["global_default"]][0]


def preferred(api, **kw):
    return api.get("/v1/secret-stores/preferred", **kw)


def set_preferred(api, store, **kw):
    return api.post("/v1/secret-stores/%s/preferred" % store_id(store), **kw)


# ---------------------------------------------------------------------------
# Listing and reading stores
# ---------------------------------------------------------------------------

def test_list(api, stores):
    resp = api.get("/v1/secret-stores")
    assert_v1_headers(resp)
    assert len(stores) >= 2
    assert sum(1 for s in stores if s["global_default"] is True) == 1
    refs = set()
    for store in stores:
        fields = barbican_fields(store)
        assert TIMESTAMP_RE.match(fields["created"])
        assert TIMESTAMP_RE.match(fields["updated"])
        assert fields["status"] == "ACTIVE"
        assert isinstance(fields["global_default"], bool)
        assert isinstance(fields["name"], str) and fields["name"]
        assert isinstance(fields["secret_store_plugin"], str)
        assert fields["crypto_plugin"] is None or isinstance(
            fields["crypto_plugin"], str)
        assert fields["secret_store_ref"].startswith(
            api.base + "/v1/secret-stores/")
        assert len(store_id(store)) == 36
        refs.add(fields["secret_store_ref"])
    assert len(refs) == len(stores)


def expected_stores():
    """The configuration the instance promises: ``COFFER_STORES``, a comma list of
    ``name=crypto_plugin`` (a ``store_crypto`` store) or
    ``name=store_plugin/crypto_plugin`` (``-`` for no crypto plugin), the global
    default marked with a trailing ``*``."""
    layout = os.environ.get("COFFER_STORES",
                            "software=simple_crypto*,software-b=simple_crypto")
    out = {}
    for item in layout.split(","):
        name, plugins = item.split("=")
        default = plugins.endswith("*")
        store_plugin, _, crypto = plugins.rstrip("*").rpartition("/")
        out[name] = (store_plugin or "store_crypto",
                     None if crypto == "-" else crypto, default)
    return out


def test_coffer_store_configuration(stores):
    # Coffer-only: the configuration COFFER_MULTISTORE=1 (and COFFER_STORES) promises.
    by_name = {s["name"]: s for s in stores}
    expected = expected_stores()
    assert sorted(by_name) == sorted(expected)
    for name, (store_plugin, crypto, default) in expected.items():
        store = by_name[name]
        assert store["global_default"] is default
        assert (store["secret_store_plugin"], store["crypto_plugin"]) == (
            store_plugin, crypto)


def test_get_one_store(api, stores):
    for store in stores:
        resp = api.get("/v1/secret-stores/%s" % store_id(store))
        assert_status(resp, 200)
        assert_v1_headers(resp)
        assert barbican_fields(parse_json(resp)) == barbican_fields(store)


def test_global_default(api, default_store):
    resp = api.get("/v1/secret-stores/global-default")
    assert_status(resp, 200)
    assert_v1_headers(resp)
    assert barbican_fields(parse_json(resp)) == barbican_fields(default_store)


@pytest.mark.parametrize("path", ["/v1/secret-stores/%s" % UNKNOWN_ID,
                                  "/v1/secret-stores/not-a-uuid"])
def test_unknown_store_is_404(api, path):
    assert_error(api.get(path), 404, NOT_FOUND)
    assert_error(api.post(path + "/preferred"), 404, NOT_FOUND)
    assert_error(api.delete(path + "/preferred"), 404, NOT_FOUND)


def test_get_on_store_preferred_is_405(api, other_store):
    resp = api.get("/v1/secret-stores/%s/preferred" % store_id(other_store))
    assert_error(resp, 405, "")


# ---------------------------------------------------------------------------
# The project's preferred store
# ---------------------------------------------------------------------------

def test_no_preferred_store_at_first(api):
    assert_error(preferred(api), 404, NO_PREFERRED)


def test_set_and_remove_preferred(api, default_store, other_store):
    resp = set_preferred(api, other_store)
    assert_no_content(resp)
    assert_v1_headers(resp)
    resp = preferred(api)
    assert_status(resp, 200)
    assert barbican_fields(parse_json(resp)) == barbican_fields(other_store)

    # setting another one replaces it
    assert_no_content(set_preferred(api, default_store))
    assert barbican_fields(parse_json(preferred(api))) == \
        barbican_fields(default_store)

    resp = api.delete("/v1/secret-stores/%s/preferred"
                      % store_id(default_store))
    assert_no_content(resp)
    assert_error(preferred(api), 404, NO_PREFERRED)
    resp = api.delete("/v1/secret-stores/%s/preferred"
                      % store_id(default_store))
    assert_error(resp, 404, NO_PREFERRED)


def test_delete_through_any_store_removes_the_preference(api, default_store,
                                                         other_store):
    # Barbican removes the project's preference whichever store id is used
    set_preferred(api, other_store)
    resp = api.delete("/v1/secret-stores/%s/preferred"
                      % store_id(default_store))
    assert_no_content(resp)
    assert_error(preferred(api), 404, NO_PREFERRED)


def test_preferred_store_is_per_project(api, make_api, other_store):
    set_preferred(api, other_store)
    assert_error(preferred(make_api()), 404, NO_PREFERRED)


@pytest.mark.parametrize("role", ["creator", "observer", "audit",
                                  "key-manager:service-admin", "reader"])
def test_only_admins_set_or_remove_the_preference(api, other_store, role):
    resp = set_preferred(api, other_store, roles=role)
    assert_error(resp, 403, denied("Setting preferred secret store"))
    assert_error(preferred(api), 404, NO_PREFERRED)
    set_preferred(api, other_store)
    resp = api.delete("/v1/secret-stores/%s/preferred"
                      % store_id(other_store), roles=role)
    assert_error(resp, 403, denied("Removing preferred secret store"))
    assert_status(preferred(api), 200)


@pytest.mark.parametrize("role", ["creator", "observer", "audit",
                                  "key-manager:service-admin"])
def test_every_legacy_role_reads_stores(api, other_store, role):
    set_preferred(api, other_store)
    assert_status(api.get("/v1/secret-stores", roles=role), 200)
    assert_status(api.get("/v1/secret-stores/global-default", roles=role),
                  200)
    assert_status(preferred(api, roles=role), 200)
    assert_status(api.get("/v1/secret-stores/%s" % store_id(other_store),
                          roles=role), 200)


def test_reader_cannot_read_stores(api, other_store):
    for path, operation in (
            ("/v1/secret-stores", "List available secret stores"),
            ("/v1/secret-stores/global-default",
             "Retrieve global default secret store"),
            ("/v1/secret-stores/preferred",
             "Retrieve project preferred store"),
            ("/v1/secret-stores/%s" % store_id(other_store),
             "Secret store retrieval")):
        assert_error(api.get(path, roles="reader"), 403, denied(operation))


def test_secret_created_in_the_preferred_store_stays_readable(
        api, other_store):
    # Coffer-only (the reference Barbican's second store is not usable).
    # Where a secret lives is not visible on the API; it must stay readable
    # after the preference is gone, i.e. it was not looked up by preference.
    set_preferred(api, other_store)
    sid, ref = api.create_secret({"payload": "in-b",
                                  "payload_content_type": "text/plain"})
    assert api.payload(sid, accept="text/plain") == b"in-b"
    oid, order = api.order_to_active({"type": "key", "meta": {
        "algorithm": "aes", "bit_length": 256}})
    key = api.payload(order["secret_ref"].rsplit("/", 1)[1])
    assert len(key) == 32

    assert_no_content(api.delete("/v1/secret-stores/%s/preferred"
                                 % store_id(other_store)))
    assert api.payload(sid, accept="text/plain") == b"in-b"
    assert api.payload(order["secret_ref"].rsplit("/", 1)[1]) == key
    # and a secret made now, in the default store, is readable too
    sid2, _ = api.create_secret({"payload": "in-default",
                                 "payload_content_type": "text/plain"})
    assert api.payload(sid2, accept="text/plain") == b"in-default"
