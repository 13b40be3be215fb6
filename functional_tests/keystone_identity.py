"""Real Keystone identities for the suite's Keystone profile.

With ``COFFER_AUTH=keystone`` the suite runs against a Coffer that validates
Keystone tokens, and the identity a test asks for (a project, roles, maybe a
user) has to exist in a real Keystone: ``conftest`` turns each request's
``project`` / ``roles`` / ``user`` into a token from this broker and sends it
as ``X-Auth-Token``. ``COFFER_KEYSTONE_ENV`` names the ``env.json`` that
``scripts/keystone start`` writes (Keystone's URL and the admin's
credentials).

What a request gets, for project P, roles R (``None`` means ``admin``, as with
trusted headers) and user U:

* U given: a token of U scoped to P, after U's role assignments on P were set
  to exactly R (assignments are added before others are removed, so U always
  holds some role on P);
* no U: a token of a user the broker made for (P, R) alone, holding R on P.

Projects and users are real Keystone objects made through the admin API
(``new_project`` / ``new_user`` return their ids). A user id the broker did
not make (a literal in a test) gets a real user of its own, the same one
every time the literal comes back. Tokens are cached per (P, R, U) until
shortly before they expire, and forgotten when U's assignments change.

Speed: nearly every test starts with a new project and a request as its
admin, so a background thread keeps a few of those ready (the project, its
``admin`` user and that user's token), and a few new users; a test takes one
and the thread makes the next while the test runs. Everything it hands out
is new and unused, exactly what the test would have made itself.

Run as a script (``python keystone_identity.py register-endpoint URL``) it
registers URL as the ``key-manager`` endpoint in the service catalog.
"""
import datetime
import json
import os
import queue
import secrets
import sys
import threading
import time
import uuid

import requests

DOMAIN = "default"
REGION = "RegionOne"
SERVICE_TYPE = "key-manager"
# Tokens are reused until this many seconds before their expires_at.
TOKEN_MARGIN = 120


class KeystoneError(AssertionError):
    """Keystone answered something the broker did not expect."""


def parse_roles(roles):
    """X-Roles style text (or None for admin) -> frozenset of role names.

    Names are lower-cased: Coffer matches token role names case-insensitively.
    """
    if roles is None:
        return frozenset(["admin"])
    names = frozenset(r.strip().lower() for r in roles.split(",") if r.strip())
    if not names:
        raise ValueError("Keystone issues no project-scoped token without a "
                         "role: roles=%r" % (roles,))
    return names


def parse_time(text):
    """Keystone's ISO 8601 UTC time -> aware datetime."""
    text = text.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(text, fmt).replace(
        tzinfo=datetime.timezone.utc)


class Identity:
    """The broker. One per test session, used from one thread (its own
    prefetching thread aside)."""

    def __init__(self, env, prefetch=0):
        self.env = env
        self.auth_url = env["auth_url"].rstrip("/")
        self._local = threading.local()   # a requests.Session per thread
        self._admin_lock = threading.Lock()
        self._roles_lock = threading.Lock()
        self._admin_token = None
        self._admin_until = 0.0
        self._role_ids = None      # name -> id
        self._passwords = {}       # user id -> password
        self._aliases = {}         # literal user id in a test -> real id
        self._granted = {}         # (user, project) -> frozenset of names
        self._default_users = {}   # (project, roles) -> user id
        self._tokens = {}          # (project, roles, user) -> (token, until)
        self._stats_lock = threading.Lock()
        self.counts = {"projects": 0, "users": 0, "tokens": 0, "grants": 0,
                       "removals": 0, "calls": 0, "prefetched": 0}
        self.waited = 0.0          # seconds the tests spent waiting on us
        self._ready_projects = queue.Queue()
        self._ready_users = queue.Queue()
        self._depth = prefetch
        self._stop = threading.Event()
        self._thread = None
        if prefetch:
            self._thread = threading.Thread(target=self._prefetch,
                                            name="keystone-prefetch",
                                            daemon=True)
            self._thread.start()

    @classmethod
    def from_env_file(cls, path, prefetch=0):
        with open(path) as f:
            return cls(json.load(f), prefetch=prefetch)

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=35)

    def _count(self, what, n=1):
        with self._stats_lock:
            self.counts[what] += n

    # -- plumbing ----------------------------------------------------------

    def _http(self):
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
            http.headers.update({"Accept": "application/json",
                                 "User-Agent": "coffer-functional-tests"})
        return http

    def _call(self, method, path, expect, *, token=None, admin=True,
              **kw):
        """One call to Keystone; insists on a status in ``expect``."""
        started = time.monotonic()
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["X-Auth-Token"] = token
        elif admin:
            headers["X-Auth-Token"] = self.admin_token()
        resp = self._http().request(method, self.auth_url + path,
                                    headers=headers, timeout=30, **kw)
        if resp.status_code == 401 and admin and token is None:
            # the admin token went stale (Keystone restarted with new keys?)
            with self._admin_lock:
                self._admin_token = None
            headers["X-Auth-Token"] = self.admin_token()
            resp = self._http().request(method, self.auth_url + path,
                                        headers=headers, timeout=30, **kw)
        self._count("calls")
        if threading.current_thread() is not self._thread:
            with self._stats_lock:
                self.waited += time.monotonic() - started
        if resp.status_code not in expect:
            raise KeystoneError("Keystone: %s %s -> %d %s" % (
                method, path, resp.status_code, resp.text[:500]))
        return resp

    def _authenticate(self, auth):
        """POST /v3/auth/tokens; returns (token, token body)."""
        resp = self._call("POST", "/auth/tokens?nocatalog", (201,),
                          admin=False, json={"auth": auth})
        self._count("tokens")
        return resp.headers["X-Subject-Token"], resp.json()["token"]

    def admin_token(self):
        with self._admin_lock:
            if self._admin_token is None or time.time() > self._admin_until:
                env = self.env
                token, body = self._authenticate({
                    "identity": {"methods": ["password"], "password": {
                        "user": {"name": env["admin_username"],
                                 "domain": {"name": env["admin_user_domain"]},
                                 "password": env["admin_password"]}}},
                    "scope": {"project": {
                        "name": env["admin_project"],
                        "domain": {"name": env["admin_project_domain"]}}}})
                self._admin_token = token
                self._admin_until = (parse_time(body["expires_at"]).timestamp()
                                     - TOKEN_MARGIN)
            return self._admin_token

    def role_id(self, name):
        """The id of role ``name`` (exactly that name: Keystone keeps the
        case it was given), made if Keystone has none of that name."""
        with self._roles_lock:
            if self._role_ids is None:
                resp = self._call("GET", "/roles", (200,))
                self._role_ids = {r["name"]: r["id"]
                                  for r in resp.json()["roles"]}
            if name not in self._role_ids:
                resp = self._call("POST", "/roles", (201,),
                                  json={"role": {"name": name}})
                self._role_ids[name] = resp.json()["role"]["id"]
            return self._role_ids[name]

    # -- projects and users ------------------------------------------------

    def _make_project(self):
        resp = self._call("POST", "/projects", (201,), json={"project": {
            "name": "ft-" + uuid.uuid4().hex, "domain_id": DOMAIN,
            "description": "Coffer functional tests"}})
        self._count("projects")
        return resp.json()["project"]["id"]

    def _make_user(self, label):
        password = secrets.token_urlsafe(16)
        resp = self._call("POST", "/users", (201,), json={"user": {
            "name": "%s-%s" % (label, uuid.uuid4().hex),
            "domain_id": DOMAIN, "password": password}})
        self._count("users")
        return resp.json()["user"]["id"], password

    def _prefetch(self):
        """Keeps ``_depth`` projects (with their admin user and its token)
        and twice as many users ready. Keystone may be down for a while (the
        outage tests stop it): then it waits and tries again; what it had
        half made is left unused."""
        admin = frozenset(["admin"])
        while not self._stop.is_set():
            try:
                if self._ready_projects.qsize() < self._depth:
                    project = self._make_project()
                    user, password = self._make_user("ft-default")
                    self._call("PUT", "/projects/%s/users/%s/roles/%s" % (
                        project, user, self.role_id("admin")), (204,))
                    self._count("grants")
                    token, body = self._authenticate(
                        {"identity": {"methods": ["password"], "password": {
                            "user": {"id": user, "password": password}}},
                         "scope": {"project": {"id": project}}})
                    until = (parse_time(body["expires_at"]).timestamp()
                             - TOKEN_MARGIN)
                    self._ready_projects.put(
                        (project, admin, user, password, token, until))
                elif self._ready_users.qsize() < 2 * self._depth:
                    self._ready_users.put(self._make_user("ft-user"))
                else:
                    self._stop.wait(0.02)
            except Exception:  # noqa: BLE001 - Keystone down; try again
                self._stop.wait(0.5)

    def new_project(self):
        try:
            project, roles, user, password, token, until = \
                self._ready_projects.get_nowait()
        except queue.Empty:
            return self._make_project()
        self._count("prefetched")
        self._passwords[user] = password
        self._granted[(user, project)] = roles
        self._default_users[(project, roles)] = user
        self._tokens[(project, roles, user)] = (token, until)
        return project

    def new_user(self, label="ft-user"):
        try:
            user, password = self._ready_users.get_nowait()
            self._count("prefetched")
        except queue.Empty:
            user, password = self._make_user(label)
        self._passwords[user] = password
        return user

    def user_id(self, user):
        """The real id for a user id a test passed."""
        if user in self._passwords:
            return user
        if user not in self._aliases:
            self._aliases[user] = self.new_user("ft-alias")
        return self._aliases[user]

    def password(self, user):
        return self._passwords[self.user_id(user)]

    def set_roles(self, user, project, roles):
        """Give ``user`` exactly ``roles`` (names) on ``project``."""
        current = self._granted.get((user, project), frozenset())
        if current == roles:
            return
        path = "/projects/%s/users/%s/roles/%%s" % (project, user)
        for name in sorted(roles - current):
            self._call("PUT", path % self.role_id(name), (204,))
            self._count("grants")
        for name in sorted(current - roles):
            self._call("DELETE", path % self.role_id(name), (204,))
            self._count("removals")
        self._granted[(user, project)] = roles
        # Keystone works the roles of a token out when validating it, so
        # a token issued before the change would now carry the new
        # roles, while Coffer may still hold it with the old ones.
        for key in [k for k in self._tokens if k[2] == user]:
            del self._tokens[key]

    def default_user(self, project, roles):
        """The user that requests without a user id act as."""
        key = (project, roles)
        if key not in self._default_users:
            user = self.new_user("ft-default")
            self.set_roles(user, project, roles)
            self._default_users[key] = user
        return self._default_users[key]

    def acting_user(self, project, roles=None, user=None):
        """The Keystone user behind a request with these identity arguments,
        holding exactly those roles on ``project`` when this returns."""
        names = parse_roles(roles)
        if user is None:
            return self.default_user(project, names)
        real = self.user_id(user)
        self.set_roles(real, project, names)
        return real

    # -- tokens ------------------------------------------------------------

    def password_auth(self, user, project=None):
        """The ``auth`` object of a password authentication."""
        auth = {"identity": {"methods": ["password"], "password": {
            "user": {"id": user, "password": self._passwords[user]}}}}
        if project is not None:
            auth["scope"] = {"project": {"id": project}}
        return auth

    def issue(self, user, project=None, *, domain=None):
        """A new token of ``user`` (project-, domain- or un-scoped); returns
        (token, body)."""
        auth = self.password_auth(user, project)
        if domain is not None:
            auth["scope"] = {"domain": {"id": domain}}
        return self._authenticate(auth)

    def token(self, project, roles=None, user=None):
        """A token for a request as (project, roles, user)."""
        real = self.acting_user(project, roles, user)
        key = (project, parse_roles(roles), real)
        cached = self._tokens.get(key)
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        token, body = self.issue(real, project)
        until = parse_time(body["expires_at"]).timestamp() - TOKEN_MARGIN
        self._tokens[key] = (token, until)
        return token

    def validate(self, token):
        """Keystone's view of a token (GET /v3/auth/tokens) or None when it
        is not valid."""
        resp = self._call("GET", "/auth/tokens?nocatalog", (200, 404),
                          headers={"X-Subject-Token": token})
        return resp.json()["token"] if resp.status_code == 200 else None

    def revoke(self, token):
        """DELETE /v3/auth/tokens: Keystone refuses the token from now on."""
        self._call("DELETE", "/auth/tokens", (204,),
                   headers={"X-Subject-Token": token})
        for key in [k for k, v in self._tokens.items() if v[0] == token]:
            del self._tokens[key]

    def application_credential(self, user, project, roles, expires_at):
        """An application credential of ``user`` on ``project`` limited to
        ``roles`` and expiring at ``expires_at`` (aware datetime). Returns
        (id, secret). Keystone caps the expiry of every token issued for it
        at ``expires_at``."""
        token, _ = self.issue(user, project)
        stamp = expires_at.astimezone(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")
        resp = self._call(
            "POST", "/users/%s/application_credentials" % user, (201,),
            token=token, json={"application_credential": {
                "name": "ft-" + uuid.uuid4().hex, "expires_at": stamp,
                "roles": [{"name": r} for r in sorted(roles)]}})
        cred = resp.json()["application_credential"]
        return cred["id"], cred["secret"]

    def application_credential_token(self, cred_id, cred_secret):
        return self._authenticate({"identity": {
            "methods": ["application_credential"],
            "application_credential": {"id": cred_id,
                                       "secret": cred_secret}}})

    def grant_project_role(self, user, project, role):
        """One more role for ``user`` on ``project``, outside the
        bookkeeping of ``set_roles`` (for a user that is not used through
        ``token``)."""
        self._call("PUT", "/projects/%s/users/%s/roles/%s"
                   % (project, user, self.role_id(role)), (204,))

    def grant_domain_role(self, user, role, domain=DOMAIN):
        self._call("PUT", "/domains/%s/users/%s/roles/%s"
                   % (domain, user, self.role_id(role)), (204,))

    # -- the service catalog -----------------------------------------------

    def register_endpoint(self, url, region=REGION):
        """Make ``url`` the one public ``key-manager`` endpoint in
        ``region``; idempotent."""
        services = self._call("GET", "/services", (200,),
                              params={"type": SERVICE_TYPE}).json()
        if services["services"]:
            service = services["services"][0]["id"]
        else:
            service = self._call("POST", "/services", (201,), json={
                "service": {"type": SERVICE_TYPE, "name": "coffer",
                            "description": "Coffer (Barbican API)",
                            "enabled": True}}).json()["service"]["id"]
        endpoints = self._call("GET", "/endpoints", (200,), params={
            "service_id": service, "interface": "public"}).json()
        found = False
        for ep in endpoints["endpoints"]:
            if ep["url"] == url and ep.get("region_id") == region:
                found = True
            elif ep.get("region_id") == region:
                self._call("DELETE", "/endpoints/%s" % ep["id"], (204,))
        if not found:
            self._call("POST", "/endpoints", (201,), json={"endpoint": {
                "service_id": service, "interface": "public",
                "url": url, "region_id": region, "enabled": True}})


def main(argv):
    if len(argv) != 3 or argv[1] != "register-endpoint":
        sys.exit("usage: COFFER_KEYSTONE_ENV=env.json %s register-endpoint URL"
                 % argv[0])
    path = os.environ.get("COFFER_KEYSTONE_ENV")
    if not path:
        sys.exit("COFFER_KEYSTONE_ENV is not set")
    Identity.from_env_file(path).register_endpoint(argv[2].rstrip("/"))


if __name__ == "__main__":
    main(sys.argv)
