"""Secret stores with the default configuration: one implicit store and
multiple backends disabled, so every ``/v1/secret-stores`` route answers 404
(after the policy check, for the routes that have one).

Skipped when ``COFFER_MULTISTORE=1``; ``test_secret_stores_multi.py`` covers
that configuration.
"""
import os

import pytest

from conftest import SERVICE_ADMIN, assert_error, denied

pytestmark = pytest.mark.skipif(
    os.environ.get("COFFER_MULTISTORE") == "1",
    reason="the instance has several secret stores (COFFER_MULTISTORE=1)")

DISABLED = ("Not Found. Multiple backends support is not enabled in service "
            "configuration.")
SOME_ID = "2f6b9d3e-4c1a-4e8b-b7d5-0a9c8e7f6d5c"


@pytest.mark.parametrize("method,path", [
    ("GET", "/v1/secret-stores"),
    ("GET", "/v1/secret-stores/global-default"),
    ("GET", "/v1/secret-stores/preferred"),
    ("GET", "/v1/secret-stores/%s" % SOME_ID),
    ("POST", "/v1/secret-stores/%s/preferred" % SOME_ID),
    ("DELETE", "/v1/secret-stores/%s/preferred" % SOME_ID),
])
def test_multiple_backends_disabled(api, method, path):
    assert_error(api.request(method, path), 404, DISABLED)


@pytest.mark.parametrize("role", ["creator", "observer", "audit",
                                  SERVICE_ADMIN])
def test_disabled_for_every_role(api, role):
    assert_error(api.get("/v1/secret-stores", roles=role), 404, DISABLED)


@pytest.mark.parametrize("path,operation", [
    ("/v1/secret-stores", "List available secret stores"),
    ("/v1/secret-stores/global-default",
     "Retrieve global default secret store"),
    ("/v1/secret-stores/preferred", "Retrieve project preferred store"),
])
def test_policy_comes_first(api, path, operation):
    assert_error(api.get(path, roles="reader"), 403, denied(operation))


def test_store_routes_check_the_configuration_first(api):
    resp = api.get("/v1/secret-stores/%s" % SOME_ID, roles="reader")
    assert_error(resp, 404, DISABLED)
