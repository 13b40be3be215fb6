"""ACLs on secrets and containers: ``/v1/{secrets,containers}/{id}/acl``.

Only the ``read`` operation exists. An entity without an ACL answers the
implicit default ``{"read": {"project-access": true}}``. ``PUT`` replaces the
ACL, ``PATCH`` changes only what it names, ``DELETE`` goes back to the default
and answers 200 with the JSON body ``null``.

The effect is tested with ``X-User-Id``: a user on the ACL may read the entity
from any project, whatever their role; ``project-access: false`` hides it
from the project's members except its creator and the project's admins.
"""
import pytest

from conftest import (JSON_ONLY, METADATA_KEYS, TIMESTAMP_RE, assert_error,
                      assert_json_content_type, assert_json_exact,
                      assert_no_content, assert_status, assert_v1_headers,
                      denied, new_user_id, parse_json, schema_msg)

DEFAULT = {"read": {"project-access": True}}
ACL_KEYS = ["project-access", "users", "created", "updated"]


class Entity:
    """A secret or a container created for a test, seen through the API."""

    def __init__(self, api, kind, **kw):
        self.api = api
        self.kind = kind
        if kind == "secrets":
            self.id, self.ref = api.create_secret(**kw)
        else:
            self.id, self.ref = api.create_container(**kw)
        self.path = "/v1/%s/%s" % (kind, self.id)
        self.acl = self.path + "/acl"
        self.acl_ref = api.base + self.acl

    def get_acl(self, **kw):
        resp = self.api.get(self.acl, **kw)
        assert_status(resp, 200)
        assert_json_content_type(resp)
        return parse_json(resp)

    def put_acl(self, body, **kw):
        resp = self.api.put(self.acl, json_body=body, **kw)
        assert_status(resp, 200)
        return resp

    @property
    def label(self):
        return "Secret" if self.kind == "secrets" else "Container"


@pytest.fixture(params=["secrets", "containers"])
def entity(api, request):
    return Entity(api, request.param)


def read_acl(body):
    """The 'read' entry with its users sorted (they are a set)."""
    entry = dict(body["read"])
    if "users" in entry:
        entry["users"] = sorted(entry["users"])
    return entry


# ---------------------------------------------------------------------------
# GET / PUT / PATCH / DELETE
# ---------------------------------------------------------------------------

def test_default_acl(entity):
    resp = entity.api.get(entity.acl)
    assert_status(resp, 200)
    assert_v1_headers(resp)
    assert_json_exact(resp, DEFAULT)


def test_put_answers_200_with_acl_ref(entity):
    resp = entity.api.put(entity.acl, json_body={
        "read": {"users": ["u1", "u2"], "project-access": False}})
    assert_status(resp, 200)
    assert_json_content_type(resp)
    assert_v1_headers(resp)
    assert_json_exact(resp, {"acl_ref": entity.acl_ref})
    assert "location" not in resp.headers


def test_get_after_put(entity):
    entity.put_acl({"read": {"users": ["u1", "u2"], "project-access": False}})
    body = entity.get_acl()
    assert list(body.keys()) == ["read"]
    assert list(body["read"].keys()) == ACL_KEYS
    entry = read_acl(body)
    assert entry["project-access"] is False
    assert entry["users"] == ["u1", "u2"]
    assert TIMESTAMP_RE.match(entry["created"])
    assert TIMESTAMP_RE.match(entry["updated"])
    assert entry["updated"] >= entry["created"]


def test_put_defaults_to_project_access_true_and_no_users(entity):
    entity.put_acl({"read": {"users": ["u1"]}})
    entry = read_acl(entity.get_acl())
    assert (entry["project-access"], entry["users"]) == (True, ["u1"])

    entity.put_acl({"read": {"project-access": False}})
    entry = read_acl(entity.get_acl())
    assert (entry["project-access"], entry["users"]) == (False, [])


def test_put_replaces_and_keeps_created(entity):
    entity.put_acl({"read": {"users": ["u1", "u2"], "project-access": False}})
    first = read_acl(entity.get_acl())
    entity.put_acl({"read": {"users": ["u3"]}})
    second = read_acl(entity.get_acl())
    assert second["users"] == ["u3"]
    assert second["project-access"] is True
    assert second["created"] == first["created"]
    assert second["updated"] >= first["updated"]


def test_put_removes_duplicate_users(entity):
    entity.put_acl({"read": {"users": ["a", "a", "b"]}})
    assert read_acl(entity.get_acl())["users"] == ["a", "b"]


@pytest.mark.parametrize("body", [{}, {"read": {}}])
def test_put_without_read_entry_removes_the_acl(entity, body):
    entity.put_acl({"read": {"users": ["u1"], "project-access": False}})
    resp = entity.api.put(entity.acl, json_body=body)
    assert_status(resp, 200)
    assert_json_exact(resp, {"acl_ref": entity.acl_ref})
    assert entity.get_acl() == DEFAULT


def test_patch_replaces_users_and_keeps_project_access(entity):
    entity.put_acl({"read": {"users": ["u1", "u2"], "project-access": False}})
    resp = entity.api.patch(entity.acl, json_body={"read": {"users": ["u3"]}})
    assert_status(resp, 200)
    assert_v1_headers(resp)
    assert_json_exact(resp, {"acl_ref": entity.acl_ref})
    body = entity.get_acl()
    assert list(body["read"].keys()) == ACL_KEYS
    entry = read_acl(body)
    assert (entry["project-access"], entry["users"]) == (False, ["u3"])


def test_patch_project_access_keeps_users(entity):
    entity.put_acl({"read": {"users": ["u1", "u2"], "project-access": False}})
    resp = entity.api.patch(entity.acl,
                            json_body={"read": {"project-access": True}})
    assert_status(resp, 200)
    entry = read_acl(entity.get_acl())
    assert (entry["project-access"], entry["users"]) == (True, ["u1", "u2"])


def test_patch_empty_users_clears_them(entity):
    entity.put_acl({"read": {"users": ["u1"], "project-access": False}})
    entity.api.patch(entity.acl, json_body={"read": {"users": []}})
    entry = read_acl(entity.get_acl())
    assert (entry["project-access"], entry["users"]) == (False, [])


def test_patch_without_acl_creates_one(entity):
    resp = entity.api.patch(entity.acl, json_body={"read": {"users": ["z"]}})
    assert_status(resp, 200)
    body = entity.get_acl()
    assert list(body["read"].keys()) == ACL_KEYS
    entry = read_acl(body)
    assert (entry["project-access"], entry["users"]) == (True, ["z"])


def test_patch_with_nothing_changes_nothing(entity):
    entity.put_acl({"read": {"users": ["u1"], "project-access": False}})
    before = entity.get_acl()
    resp = entity.api.patch(entity.acl, json_body={})
    assert_status(resp, 200)
    assert entity.get_acl() == before


def test_delete_answers_200_null(entity):
    entity.put_acl({"read": {"users": ["u1"], "project-access": False}})
    resp = entity.api.delete(entity.acl)
    assert_status(resp, 200)
    assert_json_content_type(resp)
    assert_v1_headers(resp)
    assert resp.content == b"null"
    assert_json_exact(entity.api.get(entity.acl), DEFAULT)


def test_delete_without_acl_is_200_null_too(entity):
    resp = entity.api.delete(entity.acl)
    assert_status(resp, 200)
    assert resp.content == b"null"
    assert entity.get_acl() == DEFAULT


@pytest.mark.parametrize("body,reason,prop", [
    ({"write": {"users": ["u1"]}},
     "Additional properties are not allowed ('write' was unexpected)", "None"),
    ({"read": {"project-access": "no"}},
     "'no' is not of type 'boolean'", "read"),
    ({"read": {"project-access": 1}}, "1 is not of type 'boolean'", "read"),
    ({"read": {"users": "u1"}}, "'u1' is not of type 'array'", "read"),
    ({"read": {"users": [1]}}, "1 is not of type 'string'", "read"),
    ({"read": {"users": ["x" * 256]}},
     "'%s' is too long" % ("x" * 256), "read"),
    ({"read": {"bogus": 1}},
     "Additional properties are not allowed ('bogus' was unexpected)", "read"),
    ({"read": None}, "None is not of type 'object'", "read"),
    ([], "[] is not of type 'object'", "None"),
])
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_invalid_acl(entity, method, body, reason, prop):
    entity.put_acl({"read": {"users": ["keep"], "project-access": False}})
    before = entity.get_acl()
    resp = entity.api.request(method, entity.acl, json_body=body)
    assert_error(resp, 400, schema_msg("ACL", reason, prop))
    assert entity.get_acl() == before


def test_acl_needs_json(entity):
    resp = entity.api.put(entity.acl, data=b'{"read": {}}',
                          content_type="text/plain")
    assert_error(resp, 415, JSON_ONLY)


def test_post_on_acl_is_405(entity):
    resp = entity.api.post(entity.acl, json_body={"read": {}})
    assert_error(resp, 405, "")
    assert resp.headers.get("allow") == "DELETE, GET, PATCH, PUT"


def test_acl_of_unknown_entities(api):
    missing = "7d1f3c0e-2b4a-4c8e-9f61-5a0b9e3d2c71"
    assert_error(api.get("/v1/secrets/%s/acl" % missing), 404,
                 "Secret not found.")
    assert_error(api.get("/v1/secrets/not-a-uuid/acl"), 404,
                 "Not Found. Provided secret id is invalid.")
    assert_error(api.get("/v1/containers/%s/acl" % missing), 404,
                 "Secrets container not found.")
    assert_error(api.get("/v1/containers/not-a-uuid/acl"), 404,
                 "Not Found. Provided container id is invalid.")


def test_secret_metadata_shows_no_acl(api):
    sid, _ = api.create_secret()
    api.put("/v1/secrets/%s/acl" % sid, json_body={
        "read": {"users": ["u1"], "project-access": False}})
    assert list(api.metadata(sid).keys()) == METADATA_KEYS


# ---------------------------------------------------------------------------
# The effect of an ACL on secrets
# ---------------------------------------------------------------------------

@pytest.fixture
def people():
    return {"owner": new_user_id(), "friend": new_user_id(),
            "colleague": new_user_id()}


def private_secret(api, people, users):
    """A secret created by people['owner'] with a private read ACL."""
    sid, _ = api.create_secret(roles="creator", user=people["owner"])
    api.put("/v1/secrets/%s/metadata" % sid,
            json_body={"metadata": {"k": "v"}})
    resp = api.put("/v1/secrets/%s/acl" % sid, roles="creator",
                   user=people["owner"],
                   json_body={"read": {"users": users,
                                       "project-access": False}})
    assert_status(resp, 200)
    return sid


def can_read_secret(client, sid, **who):
    resp = client.get("/v1/secrets/%s" % sid, accept="application/json",
                      **who)
    assert_status(resp, 200)
    assert parse_json(resp)["secret_ref"].endswith(sid)
    assert client.payload(sid, accept="text/plain", **who) == b"s3cr3t"
    resp = client.get("/v1/secrets/%s/metadata" % sid, **who)
    assert_status(resp, 200)
    assert parse_json(resp) == {"metadata": {"k": "v"}}


def cannot_read_secret(client, sid, **who):
    resp = client.get("/v1/secrets/%s" % sid, accept="application/json",
                      **who)
    assert_error(resp, 403, denied("Secret retrieval"))
    resp = client.get("/v1/secrets/%s/payload" % sid, accept="text/plain",
                      **who)
    assert_error(resp, 403, denied("Secret payload retrieval"))
    resp = client.get("/v1/secrets/%s/metadata" % sid, **who)
    assert_error(resp, 403, denied("Secret metadata retrieval"))


@pytest.mark.parametrize("role", ["observer", "audit", "reader"])
def test_user_on_acl_reads_from_another_project(api, make_api, people, role):
    sid = private_secret(api, people, [people["friend"]])
    other = make_api()
    # the ACL grants read whatever the role
    can_read_secret(other, sid, roles=role, user=people["friend"])
    # ... but only read: not the ACL itself, not deletion
    resp = other.get("/v1/secrets/%s/acl" % sid, roles=role,
                     user=people["friend"])
    assert_error(resp, 403, denied("SecretACL(s) retrieval"))
    resp = other.delete("/v1/secrets/%s" % sid, roles=role,
                        user=people["friend"])
    assert_error(resp, 403, denied("Secret deletion"))


def test_user_not_on_acl_is_refused_in_another_project(api, make_api, people):
    sid = private_secret(api, people, [people["friend"]])
    cannot_read_secret(make_api(), sid, roles="admin",
                       user=people["colleague"])


@pytest.mark.parametrize("role", ["observer", "creator"])
def test_private_secret_is_hidden_from_project_members(api, people, role):
    sid = private_secret(api, people, [people["friend"]])
    cannot_read_secret(api, sid, roles=role, user=people["colleague"])


def test_private_secret_stays_readable_by_its_creator(api, people):
    sid = private_secret(api, people, [])
    can_read_secret(api, sid, roles="creator", user=people["owner"])


def test_private_secret_needs_the_creator_role_too(api, people):
    # the creator rule is "creator role and same user"
    sid = private_secret(api, people, [])
    cannot_read_secret(api, sid, roles="observer", user=people["owner"])


def test_private_secret_stays_readable_by_project_admin(api, people):
    sid = private_secret(api, people, [])
    can_read_secret(api, sid, roles="admin", user=people["colleague"])


def test_project_members_on_the_acl_still_read_it(api, people):
    sid = private_secret(api, people, [people["colleague"]])
    can_read_secret(api, sid, roles="observer", user=people["colleague"])


def test_acl_users_with_project_access_keep_project_reads(api, make_api,
                                                          people):
    sid, _ = api.create_secret(user=people["owner"])
    api.put("/v1/secrets/%s/metadata" % sid,
            json_body={"metadata": {"k": "v"}})
    api.put("/v1/secrets/%s/acl" % sid,
            json_body={"read": {"users": [people["friend"]]}})
    can_read_secret(api, sid, roles="observer", user=people["colleague"])
    can_read_secret(make_api(), sid, roles="observer", user=people["friend"])


def test_removing_the_acl_takes_access_back(api, make_api, people):
    sid = private_secret(api, people, [people["friend"]])
    other = make_api()
    can_read_secret(other, sid, roles="observer", user=people["friend"])
    resp = api.delete("/v1/secrets/%s/acl" % sid)
    assert_status(resp, 200)
    cannot_read_secret(other, sid, roles="observer", user=people["friend"])
    can_read_secret(api, sid, roles="observer", user=people["colleague"])


def test_private_acl_is_still_readable_by_observers(api, people):
    # the ACL itself is guarded by role and project only
    sid = private_secret(api, people, [people["friend"]])
    resp = api.get("/v1/secrets/%s/acl" % sid, roles="observer",
                   user=people["colleague"])
    assert_status(resp, 200)
    assert read_acl(parse_json(resp))["users"] == [people["friend"]]


# ---------------------------------------------------------------------------
# acl_only listing
# ---------------------------------------------------------------------------

def test_acl_only_lists_secrets_shared_with_the_user(api, make_api, people):
    shared = []
    for i in range(2):
        sid, _ = api.create_secret({"name": "shared%d" % i, "payload": "p",
                                    "payload_content_type": "text/plain"})
        api.put("/v1/secrets/%s/acl" % sid, json_body={
            "read": {"users": [people["friend"], people["colleague"]]}})
        shared.append(sid)
    api.create_secret({"name": "not shared", "payload": "p",
                       "payload_content_type": "text/plain"})

    other = make_api()
    other.create_secret({"name": "friend's own", "payload": "p",
                         "payload_content_type": "text/plain"})

    resp = other.get("/v1/secrets?acl_only=true", user=people["friend"])
    assert_status(resp, 200)
    body = parse_json(resp)
    assert body["total"] == 2
    assert sorted(s["secret_ref"].rsplit("/", 1)[1]
                  for s in body["secrets"]) == sorted(shared)
    assert all(list(s.keys()) == METADATA_KEYS for s in body["secrets"])
    # whatever project the user asks from
    resp = api.get("/v1/secrets?acl_only=true", user=people["friend"])
    assert parse_json(resp)["total"] == 2


@pytest.mark.trusted_headers
def test_acl_only_without_user_lists_the_project(api, make_api, people):
    api.create_secret()
    other = make_api()
    sid, _ = api.create_secret()
    api.put("/v1/secrets/%s/acl" % sid,
            json_body={"read": {"users": [people["friend"]]}})
    assert parse_json(other.get("/v1/secrets?acl_only=true"))["total"] == 0
    assert parse_json(api.get("/v1/secrets?acl_only=true"))["total"] == 2


def test_acl_only_false_lists_the_project(api, make_api, people):
    sid, _ = api.create_secret()
    api.put("/v1/secrets/%s/acl" % sid,
            json_body={"read": {"users": [people["friend"]]}})
    other = make_api()
    resp = other.get("/v1/secrets?acl_only=false", user=people["friend"])
    assert parse_json(resp) == {"secrets": [], "total": 0}


def test_acl_only_for_a_user_on_no_acl_is_empty(api, people):
    api.create_secret()
    resp = api.get("/v1/secrets?acl_only=true", user=people["colleague"])
    assert_json_exact(resp, {"secrets": [], "total": 0})


def test_acl_only_needs_the_list_role(api, people):
    resp = api.get("/v1/secrets?acl_only=true", roles="audit",
                   user=people["friend"])
    assert_error(resp, 403, denied("Secret(s) retrieval"))


# ---------------------------------------------------------------------------
# The effect of an ACL on containers
# ---------------------------------------------------------------------------

def private_container(api, people, users):
    cid, _ = api.create_container(roles="creator", user=people["owner"])
    resp = api.put("/v1/containers/%s/acl" % cid, json_body={
        "read": {"users": users, "project-access": False}})
    assert_status(resp, 200)
    return cid


def test_user_on_container_acl_reads_from_another_project(api, make_api,
                                                          people):
    cid = private_container(api, people, [people["friend"]])
    other = make_api()
    body = other.container(cid, roles="reader", user=people["friend"])
    assert body["container_ref"].endswith(cid)
    resp = other.get("/v1/containers/%s/consumers" % cid, roles="reader",
                     user=people["friend"])
    assert_status(resp, 200)
    resp = other.delete("/v1/containers/%s" % cid, roles="reader",
                        user=people["friend"])
    assert_error(resp, 403, denied("Container deletion"))
    resp = other.get("/v1/containers/%s" % cid, roles="admin",
                     user=people["colleague"])
    assert_error(resp, 403, denied("Container retrieval"))


@pytest.mark.parametrize("role", ["observer", "creator"])
def test_private_container_is_hidden_from_project_members(api, people, role):
    cid = private_container(api, people, [people["friend"]])
    resp = api.get("/v1/containers/%s" % cid, roles=role,
                   user=people["colleague"])
    assert_error(resp, 403, denied("Container retrieval"))
    resp = api.get("/v1/containers/%s/consumers" % cid, roles=role,
                   user=people["colleague"])
    assert_error(resp, 403, denied("ContainerConsumers(s) retrieval"))


def test_private_container_readable_by_creator_and_admin(api, people):
    cid = private_container(api, people, [])
    api.container(cid, roles="creator", user=people["owner"])
    api.container(cid, roles="admin", user=people["colleague"])


def test_private_container_is_still_listed(api, people):
    # listing is not filtered by ACLs
    cid = private_container(api, people, [])
    resp = api.get("/v1/containers", roles="observer",
                   user=people["colleague"])
    assert_status(resp, 200)
    assert [c["container_ref"].rsplit("/", 1)[1]
            for c in parse_json(resp)["containers"]] == [cid]


# ---------------------------------------------------------------------------
# Deletion and private ACLs
# ---------------------------------------------------------------------------

def test_creator_cannot_delete_another_users_private_secret(api, people):
    sid = private_secret(api, people, [])
    resp = api.delete("/v1/secrets/%s" % sid, roles="creator",
                      user=people["colleague"])
    assert_error(resp, 403, denied("Secret deletion"))
    assert_no_content(api.delete("/v1/secrets/%s" % sid, roles="creator",
                                 user=people["owner"]))
