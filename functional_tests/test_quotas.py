"""Quotas: ``/v1/quotas`` (the caller's effective quotas) and
``/v1/project-quotas[/{project}]`` (configured quotas, service admins only),
and their enforcement on creation.

The instance is expected to run with Barbican's default quotas: -1
(unlimited) for everything. Every test sets quotas only on projects it made
up, so nothing else is affected.
"""
import pytest

from conftest import (JSON_ONLY, SERVICE_ADMIN, assert_error,
                      assert_json_exact, assert_no_content, assert_status,
                      assert_v1_headers, denied, new_project_id, parse_json,
                      schema_msg)

RESOURCES = ["secrets", "orders", "containers", "consumers", "cas"]
DEFAULTS = {"quotas": {"secrets": -1, "orders": -1, "containers": -1,
                       "consumers": -1, "cas": -1}}
NOT_FOUND = "Project quotas not found."
REACHED = ("%s issue seen - Creation not allowed because a quota has been "
           "reached.")


def configured(**values):
    """The body of GET /v1/project-quotas/{p}: unset resources are null."""
    return {"project_quotas": {r: values.get(r) for r in RESOURCES}}


def set_quotas(api, project, **values):
    resp = api.put("/v1/project-quotas/%s" % project, roles=SERVICE_ADMIN,
                   json_body={"project_quotas": values})
    assert_no_content(resp)
    return resp


# ---------------------------------------------------------------------------
# GET /v1/quotas
# ---------------------------------------------------------------------------

def test_default_quotas(api):
    resp = api.get("/v1/quotas")
    assert_status(resp, 200)
    assert_v1_headers(resp)
    assert_json_exact(resp, DEFAULTS)


def test_effective_quotas_merge_configured_and_defaults(api):
    set_quotas(api, api.project, secrets=2, containers=0)
    assert_json_exact(api.get("/v1/quotas"), {"quotas": {
        "secrets": 2, "orders": -1, "containers": 0, "consumers": -1,
        "cas": -1}})


def test_quotas_are_per_project(api, make_api):
    set_quotas(api, api.project, secrets=2)
    assert_json_exact(make_api().get("/v1/quotas"), DEFAULTS)


def test_quotas_is_read_only(api):
    resp = api.put("/v1/quotas", json_body={"quotas": {"secrets": 1}})
    assert_error(resp, 405, "")
    assert resp.headers.get("allow") == "GET"


# ---------------------------------------------------------------------------
# /v1/project-quotas: service admins only
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "creator", "observer", "audit",
                                  "reader"])
def test_project_quotas_need_the_service_admin_role(api, role):
    target = new_project_id()
    message = denied("Project Quotas")
    assert_error(api.get("/v1/project-quotas", roles=role), 403, message)
    assert_error(api.get("/v1/project-quotas/%s" % target, roles=role), 403,
                 message)
    resp = api.put("/v1/project-quotas/%s" % target, roles=role,
                   json_body={"project_quotas": {"secrets": 1}})
    assert_error(resp, 403, message)
    assert_error(api.delete("/v1/project-quotas/%s" % target, roles=role),
                 403, message)
    # nothing was set
    resp = api.get("/v1/project-quotas/%s" % target, roles=SERVICE_ADMIN)
    assert_error(resp, 404, NOT_FOUND)


def test_no_roles_header_is_not_enough(api):
    # no X-Roles means admin, and admin is not a service admin
    assert_error(api.get("/v1/project-quotas"), 403,
                 denied("Project Quotas"))


def test_unconfigured_project_is_404(api):
    resp = api.get("/v1/project-quotas/%s" % new_project_id(),
                   roles=SERVICE_ADMIN)
    assert_error(resp, 404, NOT_FOUND)


def test_put_get_delete(api):
    target = new_project_id()
    resp = set_quotas(api, target, secrets=2, containers=0)
    assert_v1_headers(resp)

    resp = api.get("/v1/project-quotas/%s" % target, roles=SERVICE_ADMIN)
    assert_status(resp, 200)
    assert_v1_headers(resp)
    assert_json_exact(resp, configured(secrets=2, containers=0))

    resp = api.delete("/v1/project-quotas/%s" % target, roles=SERVICE_ADMIN)
    assert_no_content(resp)
    assert_v1_headers(resp)
    assert_error(api.get("/v1/project-quotas/%s" % target,
                         roles=SERVICE_ADMIN), 404, NOT_FOUND)
    assert_error(api.delete("/v1/project-quotas/%s" % target,
                            roles=SERVICE_ADMIN), 404, NOT_FOUND)


def test_put_updates_only_the_given_resources(api):
    target = new_project_id()
    set_quotas(api, target, secrets=2, containers=0)
    set_quotas(api, target, orders=5, secrets=3)
    assert_json_exact(
        api.get("/v1/project-quotas/%s" % target, roles=SERVICE_ADMIN),
        configured(secrets=3, orders=5, containers=0))


def test_all_resources_and_unlimited(api):
    target = new_project_id()
    set_quotas(api, target, secrets=-1, orders=10, containers=20,
               consumers=30, cas=0)
    assert_json_exact(
        api.get("/v1/project-quotas/%s" % target, roles=SERVICE_ADMIN),
        configured(secrets=-1, orders=10, containers=20, consumers=30,
                   cas=0))


def test_delete_goes_back_to_defaults(api):
    set_quotas(api, api.project, secrets=1)
    api.delete("/v1/project-quotas/%s" % api.project, roles=SERVICE_ADMIN)
    assert_json_exact(api.get("/v1/quotas"), DEFAULTS)


def find_listed(api, project):
    """Page through the (global) list for ``project``'s entry."""
    offset = 0
    while True:
        resp = api.get("/v1/project-quotas?limit=100&offset=%d" % offset,
                       roles=SERVICE_ADMIN)
        assert_status(resp, 200)
        body = parse_json(resp)
        for item in body["project_quotas"]:
            if item["project_id"] == project:
                return item, body
        if not body["project_quotas"]:
            return None, body
        offset += len(body["project_quotas"])


def test_list_contains_configured_projects(api):
    target = new_project_id()
    set_quotas(api, target, secrets=7)
    item, body = find_listed(api, target)
    assert isinstance(body["total"], int) and body["total"] >= 1
    assert list(body.keys())[0] == "project_quotas"
    assert list(body.keys())[-1] == "total"
    assert list(item.keys()) == ["project_id", "project_quotas"]
    assert list(item["project_quotas"].keys()) == RESOURCES
    assert item == {"project_id": target,
                    "project_quotas": configured(secrets=7)["project_quotas"]}

    api.delete("/v1/project-quotas/%s" % target, roles=SERVICE_ADMIN)
    assert find_listed(api, target)[0] is None


def test_list_paging_links_say_project_quotas_with_underscore(api):
    # Barbican builds them from the resource name "project_quotas"
    set_quotas(api, new_project_id(), secrets=1)
    set_quotas(api, new_project_id(), secrets=1)
    resp = api.get("/v1/project-quotas?limit=1&offset=1",
                   roles=SERVICE_ADMIN)
    body = parse_json(resp)
    assert len(body["project_quotas"]) == 1
    assert body["previous"] == api.base + "/v1/project_quotas?limit=1&offset=0"


@pytest.mark.parametrize("body,reason,prop", [
    ({}, "'project_quotas' is a required property", "None"),
    ({"project_quotas": {"bogus": 1}},
     "Additional properties are not allowed ('bogus' was unexpected)",
     "project_quotas"),
    ({"project_quotas": {"secrets": "x"}}, "'x' is not of type 'integer'",
     "project_quotas"),
    ({"project_quotas": {"secrets": 1.5}}, "1.5 is not of type 'integer'",
     "project_quotas"),
    ({"project_quotas": {"secrets": 1}, "extra": 1},
     "Additional properties are not allowed ('extra' was unexpected)",
     "None"),
    ({"project_quotas": "x"}, "'x' is not of type 'object'",
     "project_quotas"),
])
def test_invalid_project_quotas(api, body, reason, prop):
    target = new_project_id()
    resp = api.put("/v1/project-quotas/%s" % target, roles=SERVICE_ADMIN,
                   json_body=body)
    assert_error(resp, 400, schema_msg("Project Quota", reason, prop))
    assert_error(api.get("/v1/project-quotas/%s" % target,
                         roles=SERVICE_ADMIN), 404, NOT_FOUND)


def test_empty_body_is_400(api):
    resp = api.put("/v1/project-quotas/%s" % new_project_id(),
                   roles=SERVICE_ADMIN, data=b"",
                   content_type="application/json")
    assert_error(resp, 400,
                 "Project Quotas issue seen - No data supplied to process..")


def test_project_quotas_need_json(api):
    resp = api.put("/v1/project-quotas/%s" % new_project_id(),
                   roles=SERVICE_ADMIN, data=b'{"project_quotas": {}}',
                   content_type="text/plain")
    assert_error(resp, 415, JSON_ONLY)


def test_project_quotas_collection_is_read_only(api):
    resp = api.put("/v1/project-quotas", roles=SERVICE_ADMIN,
                   json_body={"project_quotas": {}})
    assert_error(resp, 405, "")
    assert resp.headers.get("allow") == "GET"


# ---------------------------------------------------------------------------
# Enforcement
# ---------------------------------------------------------------------------

def text_secret():
    return {"payload": "q", "payload_content_type": "text/plain"}


def test_secrets_quota(api):
    set_quotas(api, api.project, secrets=2)
    first, _ = api.create_secret(text_secret())
    api.create_secret(text_secret())
    resp = api.post("/v1/secrets", json_body=text_secret())
    assert_error(resp, 403, REACHED % "Secret creation")
    assert parse_json(api.get("/v1/secrets"))["total"] == 2
    # deleting one makes room again
    assert_no_content(api.delete("/v1/secrets/%s" % first))
    api.create_secret(text_secret())
    assert_error(api.post("/v1/secrets", json_body=text_secret()), 403,
                 REACHED % "Secret creation")


def test_policy_is_checked_before_the_quota(api):
    set_quotas(api, api.project, secrets=0)
    resp = api.post("/v1/secrets", roles="observer", json_body=text_secret())
    assert_error(resp, 403, denied("Secret creation"))


def test_zero_means_none_allowed(api):
    set_quotas(api, api.project, secrets=0, containers=0)
    assert_error(api.post("/v1/secrets", json_body=text_secret()), 403,
                 REACHED % "Secret creation")
    assert_error(api.post("/v1/containers", json_body={"type": "generic"}),
                 403, REACHED % "Container creation")


def test_quota_of_another_project_does_not_apply(api, make_api):
    other = make_api()
    set_quotas(api, other.project, secrets=0)
    api.create_secret(text_secret())


def test_containers_quota(api):
    set_quotas(api, api.project, containers=1)
    api.create_container()
    resp = api.post("/v1/containers", json_body={"type": "generic"})
    assert_error(resp, 403, REACHED % "Container creation")
    assert parse_json(api.get("/v1/containers"))["total"] == 1


def test_orders_quota(api):
    set_quotas(api, api.project, orders=1)
    api.order_to_active({"type": "key", "meta": {"algorithm": "aes",
                                                 "bit_length": 128}})
    resp = api.post("/v1/orders", json_body={
        "type": "key", "meta": {"algorithm": "aes", "bit_length": 128}})
    assert_error(resp, 403, REACHED % "Order creation")
    assert parse_json(api.get("/v1/orders"))["total"] == 1


def test_container_consumers_quota(api):
    cid, _ = api.create_container()
    path = "/v1/containers/%s/consumers" % cid
    set_quotas(api, api.project, consumers=1)
    assert_status(api.post(path, json_body={"name": "a", "URL": "u"}), 200)
    resp = api.post(path, json_body={"name": "b", "URL": "u"})
    assert_error(resp, 403, REACHED % "ContainerConsumer creation")
    # the quota is checked before the idempotent re-registration
    resp = api.post(path, json_body={"name": "a", "URL": "u"})
    assert_error(resp, 403, REACHED % "ContainerConsumer creation")
    assert parse_json(api.get(path))["total"] == 1


def test_secret_consumers_quota(api):
    sid, _ = api.create_secret()
    path = "/v1/secrets/%s/consumers" % sid
    set_quotas(api, api.project, consumers=1)
    body = {"service": "s", "resource_type": "t", "resource_id": "1"}
    assert_status(api.post(path, json_body=body), 200)
    resp = api.post(path, json_body=dict(body, resource_id="2"))
    assert_error(resp, 403, REACHED % "SecretConsumer creation")
    assert parse_json(api.get(path))["total"] == 1


def test_consumer_quota_counts_container_and_secret_consumers_apart(api):
    # Barbican counts each kind of consumer in its own table
    sid, _ = api.create_secret()
    cid, _ = api.create_container()
    set_quotas(api, api.project, consumers=1)
    assert_status(api.post("/v1/containers/%s/consumers" % cid,
                           json_body={"name": "a", "URL": "u"}), 200)
    assert_status(api.post("/v1/secrets/%s/consumers" % sid, json_body={
        "service": "s", "resource_type": "t", "resource_id": "1"}), 200)
