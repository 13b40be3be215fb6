"""Transport keys: none exist with the software stores, so the list is
empty."""
import pytest

from conftest import (SERVICE_ADMIN, assert_error, assert_json_exact,
                      assert_status, assert_v1_headers, denied)


def test_empty_transport_key_list(api):
    resp = api.get("/v1/transport_keys")
    assert_status(resp, 200)
    assert_v1_headers(resp)
    assert_json_exact(resp, {"transport_keys": [], "total": 0})


def test_empty_list_with_filter_and_paging(api):
    resp = api.get("/v1/transport_keys?plugin_name=x&limit=1&offset=0")
    assert_json_exact(resp, {"transport_keys": [], "total": 0})


@pytest.mark.parametrize("role", ["admin", "creator", "observer", "audit",
                                  SERVICE_ADMIN, "reader"])
def test_transport_key_list_roles(api, role):
    resp = api.get("/v1/transport_keys", roles=role)
    if role == "reader":
        assert_error(resp, 403, denied("Transport Key(s) retrieval"))
    else:
        assert_json_exact(resp, {"transport_keys": [], "total": 0})


def test_malformed_transport_key_id_is_404(api):
    assert_error(api.get("/v1/transport_keys/not-a-uuid"), 404,
                 "Not Found. Provided transport key id is invalid.")
