"""Barbican's legacy role matrix for every route besides the secrets
themselves (those are in ``test_rbac.py``).

The expectations come from the ``deprecated_rule`` check strings in
``barbican/common/policies/*.py`` (in force with ``enforce_new_defaults =
False``) and were confirmed on Barbican 23.0.0. The building blocks:

* ALL = admin, creator, observer, audit, key-manager:service-admin
  (``all_users``); READERS = admin, creator, observer (``all_but_audit``);
  WRITERS = admin, creator (``admin_or_creator``).
* Secret and container rules also need the caller's project to be the
  entity's project, except ``*_acl_read``: a user on the entity's read ACL
  passes whatever their role and project.
* ``*_project_creator`` is "creator role, same project, and the entity's
  creator" (``X-User-Id`` = ``creator_id``); a private entity
  (``project-access: false``) is closed to everyone else in the project but
  its admins.

Each test makes the entity as ``OWNER`` (admin of project P) and acts as
``ACTOR``, a different user, unless the column says otherwise:

* ``own``: ACTOR in P with each role;
* ``other``: ACTOR as admin of another project;
* ``acl``: ACTOR with the role "reader" in another project, on the read ACL;
* ``private``: ACTOR as creator in P, the entity private;
* ``owner``: OWNER as creator in P, the entity private.
"""
import os

import pytest

from conftest import (SERVICE_ADMIN, assert_error, assert_status, denied,
                      new_user_id, parse_json)

ROLES = ["admin", "creator", "observer", "audit", SERVICE_ADMIN, "reader"]
ALL = {"admin", "creator", "observer", "audit", SERVICE_ADMIN}
READERS = {"admin", "creator", "observer"}
WRITERS = {"admin", "creator"}
SERVICE = {SERVICE_ADMIN}
ADMIN = {"admin"}

MULTISTORE = os.environ.get("COFFER_MULTISTORE") == "1"
STORES_DISABLED = ("Not Found. Multiple backends support is not enabled in "
                   "service configuration.")


class Op:
    """One operation of the table.

    ``path`` is formatted with the setup's values (``sid``, ``cid``,
    ``oid``, ``project``); ``body`` is a dict, a callable of the setup, or
    None. ``acl`` / ``private`` tell whether an ACL reader from another
    project / a creator who is not the owner of a private entity may do it.
    """

    def __init__(self, name, target, method, path, ok, allowed, operation,
                 body=None, acl=False, private=False, ok_description=None):
        self.name = name
        self.target = target
        self.method = method
        self.path = path
        self.ok = ok
        self.allowed = allowed
        self.operation = operation
        self.body = body
        self.acl = acl
        self.private = private
        self.ok_description = ok_description

    def __repr__(self):
        return self.name

    def call(self, client, ctx, **who):
        kw = dict(who)
        body = self.body(ctx) if callable(self.body) else self.body
        if body is not None:
            kw["json_body"] = body
        return client.request(self.method, self.path.format(**ctx), **kw)

    def check_allowed(self, resp):
        if self.ok_description is not None:
            assert_error(resp, self.ok, self.ok_description)
        else:
            assert_status(resp, self.ok)

    def check_denied(self, resp):
        assert_error(resp, 403, denied(self.operation))


def consumer_of(ctx):
    return ctx.get("acl_consumer", {"name": "svc", "URL": "http://svc/1"})


def secret_consumer_of(ctx):
    return ctx.get("acl_consumer", {"service": "svc", "resource_type": "t",
                                    "resource_id": "r1"})


SECRET = "/v1/secrets/{sid}"
CONTAINER = "/v1/containers/{cid}"

OPS = [
    # secret user metadata
    Op("secret-metadata-get", "secret", "GET", SECRET + "/metadata", 200,
       ALL, "Secret metadata retrieval", acl=True),
    Op("secret-metadata-put", "secret", "PUT", SECRET + "/metadata", 201,
       WRITERS, "Secret metadata creation", body={"metadata": {"n": "v"}}),
    Op("secret-metadatum-post", "secret", "POST", SECRET + "/metadata", 201,
       WRITERS, "Secret metadatum creation",
       body={"key": "new", "value": "v"}),
    Op("secret-metadatum-get", "secret", "GET", SECRET + "/metadata/k", 200,
       ALL, "Secret metadatum retrieval", acl=True),
    Op("secret-metadatum-put", "secret", "PUT", SECRET + "/metadata/k", 200,
       WRITERS, "Secret metadatum update", body={"key": "k", "value": "v2"}),
    Op("secret-metadatum-delete", "secret", "DELETE", SECRET + "/metadata/k",
       204, WRITERS, "Secret metadatum removal"),
    # secret ACL
    Op("secret-acl-get", "secret", "GET", SECRET + "/acl", 200, READERS,
       "SecretACL(s) retrieval", private=True),
    Op("secret-acl-put", "secret", "PUT", SECRET + "/acl", 200, WRITERS,
       "SecretACL(s) Update", body={"read": {"users": ["u1"]}}),
    Op("secret-acl-patch", "secret", "PATCH", SECRET + "/acl", 200, WRITERS,
       "SecretACL(s) Update", body={"read": {"users": ["u1"]}}),
    Op("secret-acl-delete", "secret", "DELETE", SECRET + "/acl", 200,
       WRITERS, "SecretACL(s) deletion"),
    # secret consumers
    Op("secret-consumers-get", "secret", "GET", SECRET + "/consumers", 200,
       ALL, "SecretConsumers(s) retrieval", acl=True),
    Op("secret-consumers-post", "secret", "POST", SECRET + "/consumers", 200,
       ALL, "SecretConsumer creation", acl=True,
       body={"service": "svc", "resource_type": "t", "resource_id": "new"}),
    Op("secret-consumers-delete", "secret", "DELETE", SECRET + "/consumers",
       200, ALL, "SecretConsumer deletion", acl=True,
       body=secret_consumer_of),
    # containers
    Op("containers-post", "none", "POST", "/v1/containers", 201, WRITERS,
       "Container creation", body={"type": "generic", "name": "n"}),
    Op("containers-list", "none", "GET", "/v1/containers", 200, READERS,
       "Containers(s) retrieval"),
    Op("container-get", "container", "GET", CONTAINER, 200, ALL,
       "Container retrieval", acl=True),
    Op("container-delete", "container", "DELETE", CONTAINER, 204, ADMIN,
       "Container deletion"),
    Op("container-secret-post", "container", "POST", CONTAINER + "/secrets",
       201, WRITERS, "Container Secret creation",
       body=lambda ctx: {"name": "b", "secret_ref": ctx["sref2"]}),
    Op("container-secret-delete", "container", "DELETE",
       CONTAINER + "/secrets", 204, WRITERS, "Container Secret deletion",
       body=lambda ctx: {"name": "a", "secret_ref": ctx["sref1"]}),
    # container ACL
    Op("container-acl-get", "container", "GET", CONTAINER + "/acl", 200,
       READERS, "ContainerACL(s) retrieval", private=True),
    Op("container-acl-put", "container", "PUT", CONTAINER + "/acl", 200,
       WRITERS, "ContainerACL(s) Update", body={"read": {"users": ["u1"]}}),
    Op("container-acl-patch", "container", "PATCH", CONTAINER + "/acl", 200,
       WRITERS, "ContainerACL(s) Update", body={"read": {"users": ["u1"]}}),
    Op("container-acl-delete", "container", "DELETE", CONTAINER + "/acl",
       200, WRITERS, "ContainerACL(s) deletion"),
    # container consumers
    Op("container-consumers-get", "container", "GET",
       CONTAINER + "/consumers", 200, ALL,
       "ContainerConsumers(s) retrieval", acl=True),
    Op("container-consumers-post", "container", "POST",
       CONTAINER + "/consumers", 200, ALL, "ContainerConsumer creation",
       acl=True, body={"name": "new", "URL": "http://svc/2"}),
    Op("container-consumers-delete", "container", "DELETE",
       CONTAINER + "/consumers", 200, ALL, "ContainerConsumer deletion",
       acl=True, body=consumer_of),
    # orders
    Op("orders-post", "none", "POST", "/v1/orders", 202, WRITERS,
       "Order creation",
       body={"type": "key", "meta": {"algorithm": "aes", "bit_length": 128}}),
    Op("orders-list", "none", "GET", "/v1/orders", 200, READERS,
       "Order(s) retrieval"),
    Op("orders-put", "none", "PUT", "/v1/orders", 405, WRITERS,
       "Order update", body={"type": "key", "meta": {}},
       ok_description="Order update is not supported."),
    Op("order-get", "order", "GET", "/v1/orders/{oid}", 200, ALL,
       "Order retrieval"),
    Op("order-delete", "order", "DELETE", "/v1/orders/{oid}", 204, ADMIN,
       "Order deletion"),
    # quotas
    Op("quotas-get", "none", "GET", "/v1/quotas", 200, ALL, "Quotas"),
    Op("project-quotas-list", "none", "GET", "/v1/project-quotas", 200,
       SERVICE, "Project Quotas"),
    Op("project-quotas-get", "quotas", "GET", "/v1/project-quotas/{project}",
       200, SERVICE, "Project Quotas"),
    Op("project-quotas-put", "none", "PUT", "/v1/project-quotas/{project}",
       204, SERVICE, "Project Quotas",
       body={"project_quotas": {"orders": 50}}),
    Op("project-quotas-delete", "quotas", "DELETE",
       "/v1/project-quotas/{project}", 204, SERVICE, "Project Quotas"),
    # transport keys
    Op("transport-keys-list", "none", "GET", "/v1/transport_keys", 200, ALL,
       "Transport Key(s) retrieval"),
    # secret stores (404 after the policy check without multiple backends)
    Op("secret-stores-list", "none", "GET", "/v1/secret-stores",
       200 if MULTISTORE else 404, ALL, "List available secret stores",
       ok_description=None if MULTISTORE else STORES_DISABLED),
    Op("secret-stores-global-default", "none", "GET",
       "/v1/secret-stores/global-default", 200 if MULTISTORE else 404, ALL,
       "Retrieve global default secret store",
       ok_description=None if MULTISTORE else STORES_DISABLED),
]

ENTITY_OPS = [op for op in OPS if op.target in ("secret", "container")]


# ---------------------------------------------------------------------------
# Set-up
# ---------------------------------------------------------------------------

@pytest.fixture
def owner():
    return new_user_id()


@pytest.fixture
def actor():
    return new_user_id()


def setup(api, op, owner):
    """Create what ``op`` acts on, as OWNER (admin of ``api.project``)."""
    ctx = {"project": api.project}
    if op.target == "secret":
        ctx["sid"], _ = api.create_secret(user=owner)
        resp = api.put("/v1/secrets/%s/metadata" % ctx["sid"],
                       json_body={"metadata": {"k": "v"}})
        assert_status(resp, 201)
        resp = api.post("/v1/secrets/%s/consumers" % ctx["sid"],
                        json_body=secret_consumer_of(ctx))
        assert_status(resp, 200)
    elif op.target == "container":
        _, ctx["sref1"] = api.create_secret(user=owner)
        _, ctx["sref2"] = api.create_secret(user=owner)
        ctx["cid"], _ = api.create_container(
            {"type": "generic", "name": "c",
             "secret_refs": [{"name": "a", "secret_ref": ctx["sref1"]}]},
            user=owner)
        resp = api.post("/v1/containers/%s/consumers" % ctx["cid"],
                        json_body=consumer_of(ctx))
        assert_status(resp, 200)
    elif op.target == "order":
        ctx["oid"], _ = api.order_to_active(
            {"type": "key", "meta": {"algorithm": "aes", "bit_length": 128}},
            user=owner)
    elif op.target == "quotas":
        resp = api.put("/v1/project-quotas/%s" % api.project,
                       roles=SERVICE_ADMIN,
                       json_body={"project_quotas": {"orders": 100}})
        assert_status(resp, 204)
    return ctx


def set_acl(api, op, ctx, body):
    kind, key = (("secrets", "sid") if op.target == "secret"
                 else ("containers", "cid"))
    resp = api.put("/v1/%s/%s/acl" % (kind, ctx[key]), json_body=body)
    assert_status(resp, 200)


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", OPS, ids=repr)
def test_own_project(api, owner, actor, op, role):
    ctx = setup(api, op, owner)
    resp = op.call(api, ctx, roles=role, user=actor)
    if role in op.allowed:
        op.check_allowed(resp)
    else:
        op.check_denied(resp)


@pytest.mark.parametrize("op", [op for op in OPS
                                if op.target in ("secret", "container",
                                                 "order")], ids=repr)
def test_admin_of_another_project(api, make_api, owner, actor, op):
    ctx = setup(api, op, owner)
    resp = op.call(make_api(), ctx, roles="admin", user=actor)
    if op.target == "order":
        # orders are looked up within the caller's project
        assert_error(resp, 404, "Order not found.")
    else:
        op.check_denied(resp)


@pytest.mark.parametrize("op", ENTITY_OPS, ids=repr)
def test_acl_reader_from_another_project(api, make_api, owner, actor, op):
    ctx = setup(api, op, owner)
    set_acl(api, op, ctx, {"read": {"users": [actor]}})
    other = make_api()
    who = {"roles": "reader", "user": actor}
    if op.name.endswith("consumers-delete"):
        # only the consumer's project (or the entity's) may remove it, so
        # the reader removes one it registered itself
        ctx["acl_consumer"] = ({"name": "mine", "URL": "http://mine"}
                               if op.target == "container" else
                               {"service": "mine", "resource_type": "t",
                                "resource_id": "r"})
        path = op.path.rsplit("/", 1)[0].format(**ctx) + "/consumers"
        assert_status(other.post(path, json_body=ctx["acl_consumer"], **who),
                      200)
    resp = op.call(other, ctx, **who)
    if op.acl:
        op.check_allowed(resp)
    else:
        op.check_denied(resp)


@pytest.mark.parametrize("op", ENTITY_OPS, ids=repr)
def test_creator_on_a_private_entity(api, owner, actor, op):
    ctx = setup(api, op, owner)
    set_acl(api, op, ctx, {"read": {"project-access": False}})
    resp = op.call(api, ctx, roles="creator", user=actor)
    if op.private:
        op.check_allowed(resp)
    else:
        op.check_denied(resp)


@pytest.mark.parametrize("op", ENTITY_OPS, ids=repr)
def test_owner_on_a_private_entity(api, owner, op):
    ctx = setup(api, op, owner)
    set_acl(api, op, ctx, {"read": {"project-access": False}})
    resp = op.call(api, ctx, roles="creator", user=owner)
    op.check_allowed(resp)


@pytest.mark.parametrize("role", ["observer", "audit"])
def test_private_entity_closed_to_other_roles_of_its_owner(api, owner, role):
    # the owner rule needs the creator role as well
    ctx = setup(api, OPS[0], owner)
    set_acl(api, OPS[0], ctx, {"read": {"project-access": False}})
    resp = api.get("/v1/secrets/%s/metadata" % ctx["sid"], roles=role,
                   user=owner)
    assert_error(resp, 403, denied("Secret metadata retrieval"))


def test_owner_creator_may_delete_their_container(api, owner):
    cid, _ = api.create_container(user=owner)
    resp = api.delete("/v1/containers/%s" % cid, roles="creator", user=owner)
    assert_status(resp, 204)


@pytest.mark.trusted_headers
def test_creator_without_user_id_owns_containers_without_creator(api):
    # with neither X-User-Id nor creator_id, the owner check compares
    # "None" with "None" and passes
    cid, _ = api.create_container()
    resp = api.delete("/v1/containers/%s" % cid, roles="creator")
    assert_status(resp, 204)


def test_denied_writes_change_nothing(api, owner, actor):
    ctx = setup(api, OPS[0], owner)
    for op in OPS:
        if op.target == "secret" and "observer" not in op.allowed:
            op.check_denied(op.call(api, ctx, roles="observer", user=actor))
    resp = api.get("/v1/secrets/%s/metadata" % ctx["sid"])
    assert parse_json(resp) == {"metadata": {"k": "v"}}
    resp = api.get("/v1/secrets/%s/acl" % ctx["sid"])
    assert parse_json(resp) == {"read": {"project-access": True}}
    resp = api.get("/v1/secrets/%s/consumers" % ctx["sid"])
    assert parse_json(resp)["total"] == 1
