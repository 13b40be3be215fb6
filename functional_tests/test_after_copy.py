"""Read checks around ``coffer db copy`` (run by ``scripts/test-db-copy``).

Skipped unless ``COFFER_AFTER_COPY`` is ``record`` or ``check``:

* ``record``: against the SQLite instance the suite just ran on, read back
  everything the suite left — every project found in the database
  ``COFFER_AFTER_COPY_DB`` names: its secrets (metadata, payload, user
  metadata, ACL, consumers), containers (with ACL and consumers), orders,
  quotas and preferred store, the stores and the quota overrides — and write
  every answer (status and body, refs relative to the instance) to
  ``COFFER_AFTER_COPY_FILE``;
* ``check``: against the instance started on PostgreSQL after the copy, read
  the same things again and compare them with the record, answer by answer.

Projects holding a secret that expires within the hour are left out (its
answers would change between the two runs by themselves).
"""
import base64
import datetime
import json
import os
import sqlite3

import pytest
import requests

MODE = os.environ.get("COFFER_AFTER_COPY", "")
pytestmark = pytest.mark.skipif(
    MODE not in ("record", "check"),
    reason="run by scripts/test-db-copy (COFFER_AFTER_COPY=record|check)")

SERVICE_ADMIN = "key-manager:service-admin"
KINDS = ("secret", "container", "order", "project", "global")


def _projects(db_path):
    """The projects with rows in the database, and those to leave out."""
    conn = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    try:
        rows = conn.execute(
            "SELECT project_id FROM secrets UNION SELECT project_id FROM "
            "containers UNION SELECT project_id FROM orders UNION SELECT "
            "project_id FROM project_quotas UNION SELECT project_id FROM "
            "project_secret_stores").fetchall()
        utc = datetime.datetime.now(datetime.timezone.utc).replace(
            tzinfo=None)
        now = utc.isoformat(sep=" ")
        soon = (utc + datetime.timedelta(hours=1)).isoformat(sep=" ")
        expiring = conn.execute(
            "SELECT DISTINCT project_id FROM secrets WHERE expiration > ? "
            "AND expiration < ?", (now, soon)).fetchall()
    finally:
        conn.close()
    return sorted(r[0] for r in rows), {r[0] for r in expiring}


class Reader:
    """Reads as each project's admin, refs made relative to the instance."""

    def __init__(self, base):
        self.base = base.rstrip("/")
        self.http = requests.Session()
        self.answers = {}

    def get(self, key, path, project, roles="admin", accept=None,
            kind="project"):
        headers = {"X-Project-Id": project, "X-Roles": roles,
                   "X-User-Id": "after-copy-reader",
                   "OpenStack-API-Version": "key-manager 1.1"}
        if accept:
            headers["Accept"] = accept
        resp = self.http.get(self.base + path, headers=headers, timeout=30)
        if accept and resp.status_code == 200:
            body = base64.b64encode(resp.content).decode()
        else:
            try:
                body = json.loads(resp.text.replace(self.base, "BASE"))
            except ValueError:
                body = resp.text.replace(self.base, "BASE")
        self.answers["%s %s" % (kind, key)] = {"status": resp.status_code,
                                               "body": body}
        return resp.status_code, body

    def all_pages(self, path, project, field):
        """Every item of a list, 100 at a time."""
        items, offset = [], 0
        while True:
            key = "%s %s?offset=%d" % (project, path, offset)
            status, body = self.get(key, "%s?limit=100&offset=%d"
                                    % (path, offset), project)
            assert status == 200, (key, body)
            items.extend(body[field])
            offset += 100
            if offset >= body["total"]:
                return items

    def read_project(self, project):
        for secret in self.all_pages("/v1/secrets", project, "secrets"):
            sid = secret["secret_ref"].rsplit("/", 1)[1]
            for sub in ("", "/metadata", "/acl", "/consumers"):
                self.get("%s %s%s" % (project, sid, sub),
                         "/v1/secrets/%s%s" % (sid, sub), project,
                         kind="secret")
            accept = (secret.get("content_types") or {}).get("default")
            if accept:
                self.get("%s %s payload" % (project, sid),
                         "/v1/secrets/%s/payload" % sid, project,
                         accept=accept, kind="secret")
        for container in self.all_pages("/v1/containers", project,
                                        "containers"):
            cid = container["container_ref"].rsplit("/", 1)[1]
            for sub in ("", "/acl", "/consumers"):
                self.get("%s %s%s" % (project, cid, sub),
                         "/v1/containers/%s%s" % (cid, sub), project,
                         kind="container")
        for order in self.all_pages("/v1/orders", project, "orders"):
            oid = order["order_ref"].rsplit("/", 1)[1]
            self.get("%s %s" % (project, oid), "/v1/orders/%s" % oid,
                     project, kind="order")
        self.get("%s quotas" % project, "/v1/quotas", project)
        self.get("%s project-quotas" % project,
                 "/v1/project-quotas/%s" % project, "after-copy-admin",
                 roles=SERVICE_ADMIN)
        self.get("%s preferred" % project, "/v1/secret-stores/preferred",
                 project)

    def read_all(self, projects):
        self.get("secret-stores", "/v1/secret-stores", "after-copy-admin",
                 kind="global")
        offset = 0
        while True:
            status, body = self.get(
                "project-quotas?offset=%d" % offset,
                "/v1/project-quotas?limit=100&offset=%d" % offset,
                "after-copy-admin", roles=SERVICE_ADMIN, kind="global")
            assert status == 200, body
            offset += 100
            if offset >= body["total"]:
                break
        for project in projects:
            self.read_project(project)
        return self.answers


@pytest.fixture(scope="module")
def reads():
    base = os.environ.get("COFFER_URL", "")
    path = os.environ.get("COFFER_AFTER_COPY_FILE", "")
    if not base or not path:
        pytest.fail("COFFER_AFTER_COPY needs COFFER_URL and "
                    "COFFER_AFTER_COPY_FILE", pytrace=False)
    reader = Reader(base)
    if MODE == "record":
        db = os.environ.get("COFFER_AFTER_COPY_DB", "")
        if not db:
            pytest.fail("record needs COFFER_AFTER_COPY_DB (the SQLite "
                        "database)", pytrace=False)
        projects, expiring = _projects(db)
        kept = [p for p in projects if p not in expiring]
        answers = reader.read_all(kept)
        with open(path, "w") as f:
            json.dump({"projects": kept, "left_out": sorted(expiring),
                       "answers": answers}, f)
        return {"projects": kept, "answers": answers}, None
    with open(path) as f:
        recorded = json.load(f)
    return recorded, reader.read_all(recorded["projects"])


def _compare(reads, kind):
    recorded, now = reads
    mine = {k: v for k, v in recorded["answers"].items()
            if k.startswith(kind + " ")}
    if now is None:  # record mode: what was read must be worth checking
        assert mine, "nothing of kind %s was read" % kind
        failed = [k for k, v in mine.items() if v["status"] >= 500]
        assert not failed, failed[:10]
        return
    theirs = {k: v for k, v in now.items() if k.startswith(kind + " ")}
    missing = sorted(set(mine) - set(theirs))
    extra = sorted(set(theirs) - set(mine))
    differ = sorted(k for k in mine if k in theirs and mine[k] != theirs[k])
    assert not (missing or extra or differ), (
        "%d missing, %d extra, %d different answers; first ones: %s" % (
            len(missing), len(extra), len(differ),
            [(k, mine.get(k), theirs.get(k))
             for k in (missing + extra + differ)[:3]]))
    print("%s: %d answers match" % (kind, len(mine)))


@pytest.mark.parametrize("kind", KINDS)
def test_every_read_matches(reads, kind):
    _compare(reads, kind)


def test_payloads_were_read(reads):
    recorded, _ = reads
    payloads = [k for k, v in recorded["answers"].items()
                if k.endswith(" payload") and v["status"] == 200]
    assert len(payloads) > 100, len(payloads)
