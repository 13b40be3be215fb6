"""Barbican's legacy role matrix (``X-Roles``; no header means admin).

| action            | admin | creator | observer | audit | other |
|-------------------|-------|---------|----------|-------|-------|
| create            | yes   | yes     | no       | no    | no    |
| list              | yes   | yes     | yes      | no    | no    |
| metadata GET      | yes   | yes     | yes      | yes   | no    |
| payload GET       | yes   | yes     | yes      | no    | no    |
| PUT payload       | yes   | yes     | no       | no    | no    |
| DELETE            | yes   | yes*    | no       | no    | no    |

(*) a creator may delete any project secret that has no private ACL.
"""
import pytest

from conftest import (assert_error, assert_no_content, assert_status, denied,
                      new_user_id, parse_json)

ROLES = ["admin", "creator", "observer", "audit", "reader"]


def allowed(role, *who):
    return role in who


@pytest.mark.parametrize("role", ROLES)
def test_create(api, role):
    resp = api.post("/v1/secrets", roles=role, json_body={
        "payload": "x", "payload_content_type": "text/plain"})
    if allowed(role, "admin", "creator"):
        assert_status(resp, 201)
    else:
        assert_error(resp, 403, denied("Secret creation"))
        assert parse_json(api.get("/v1/secrets"))["total"] == 0


@pytest.mark.parametrize("role", ROLES)
def test_list(api, role):
    api.create_secret()
    resp = api.get("/v1/secrets", roles=role)
    if allowed(role, "admin", "creator", "observer"):
        assert_status(resp, 200)
        assert parse_json(resp)["total"] == 1
    else:
        assert_error(resp, 403, denied("Secret(s) retrieval"))


@pytest.mark.parametrize("role", ROLES)
def test_metadata(api, role):
    sid, ref = api.create_secret()
    resp = api.get("/v1/secrets/%s" % sid, roles=role,
                   accept="application/json")
    if allowed(role, "admin", "creator", "observer", "audit"):
        assert_status(resp, 200)
        assert parse_json(resp)["secret_ref"] == ref
    else:
        assert_error(resp, 403, denied("Secret retrieval"))


@pytest.mark.parametrize("role", ROLES)
def test_payload(api, role):
    sid, _ = api.create_secret()
    resp = api.get("/v1/secrets/%s/payload" % sid, roles=role,
                   accept="text/plain")
    if allowed(role, "admin", "creator", "observer"):
        assert_status(resp, 200)
        assert resp.content == b"s3cr3t"
    else:
        assert_error(resp, 403, denied("Secret payload retrieval"))


@pytest.mark.parametrize("role", ROLES)
def test_legacy_payload_get_follows_payload_rules(api, role):
    # GET /v1/secrets/{id} with Accept: text/plain is a payload read, so it
    # is judged like /payload, but reported as a secret retrieval.
    sid, _ = api.create_secret()
    resp = api.get("/v1/secrets/%s" % sid, roles=role, accept="text/plain")
    if allowed(role, "admin", "creator", "observer"):
        assert_status(resp, 200)
        assert resp.content == b"s3cr3t"
    else:
        assert_error(resp, 403, denied("Secret retrieval"))


@pytest.mark.parametrize("role", ROLES)
def test_put_payload(api, role):
    sid, _ = api.create_secret({"name": "two-step"})
    resp = api.put("/v1/secrets/%s" % sid, roles=role, data=b"filled",
                   content_type="text/plain")
    if allowed(role, "admin", "creator"):
        assert_no_content(resp)
        assert api.payload(sid, accept="text/plain") == b"filled"
    else:
        assert_error(resp, 403, denied("Secret update"))
        nopay = api.get("/v1/secrets/%s/payload" % sid, accept="text/plain")
        assert_status(nopay, 404)


@pytest.mark.parametrize("role", ROLES)
def test_delete(api, role):
    # created by another user, so "creator" succeeds through its role alone
    sid, _ = api.create_secret(user=new_user_id())
    resp = api.delete("/v1/secrets/%s" % sid, roles=role, user=new_user_id())
    if allowed(role, "admin", "creator"):
        assert_no_content(resp)
        assert_status(api.get("/v1/secrets/%s" % sid), 404)
    else:
        assert_error(resp, 403, denied("Secret deletion"))
        assert_status(api.get("/v1/secrets/%s" % sid), 200)


def test_creator_cannot_delete_others_private_secret(api):
    owner, other = new_user_id(), new_user_id()
    sid, _ = api.create_secret(user=owner)
    resp = api.put("/v1/secrets/%s/acl" % sid,
                   json_body={"read": {"users": [], "project-access": False}})
    assert_status(resp, 200)

    resp = api.delete("/v1/secrets/%s" % sid, roles="creator", user=other)
    assert_error(resp, 403, denied("Secret deletion"))
    assert_status(api.get("/v1/secrets/%s" % sid), 200)

    # its own creator still may, through the same role
    resp = api.delete("/v1/secrets/%s" % sid, roles="creator", user=owner)
    assert_no_content(resp)


def test_roles_are_a_comma_separated_case_insensitive_list(api):
    resp = api.post("/v1/secrets", roles="Observer, CREATOR", json_body={
        "payload": "x", "payload_content_type": "text/plain"})
    assert_status(resp, 201)
    resp = api.get("/v1/secrets", roles="audit,observer")
    assert_status(resp, 200)


def test_no_roles_header_means_admin(api):
    sid, _ = api.create_secret()
    assert api.payload(sid, accept="text/plain") == b"s3cr3t"
    assert_no_content(api.delete("/v1/secrets/%s" % sid))


def test_admin_of_another_project_is_refused(api, make_api):
    sid, _ = api.create_secret()
    other = make_api()
    resp = other.get("/v1/secrets/%s" % sid, roles="admin",
                     accept="application/json")
    assert_error(resp, 403, denied("Secret retrieval"))
    resp = other.delete("/v1/secrets/%s" % sid, roles="admin")
    assert_error(resp, 403, denied("Secret deletion"))
