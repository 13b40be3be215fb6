"""The real python-barbicanclient, used unchanged.

With trusted headers the client is unauthenticated: it is given Coffer's URL
and a project id, which it sends as ``X-Project-Id`` (no ``X-Roles``, so
admin, unless a test asks for a role). In keystone mode it is used as an
OpenStack user would: a keystoneauth1 password session of a Keystone user
with the ``creator`` role (or the role a test asks for) on a fresh project,
and Coffer found through the service catalog (type ``key-manager``, public
interface).
"""
import time

import pytest

from barbicanclient import client as bc_client
from barbicanclient import exceptions as bc_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from conftest import KEYSTONE, keystone_broker, new_project_id


@pytest.fixture(scope="session")
def catalog(base_url):
    """In keystone mode: Coffer is the key-manager endpoint of the catalog."""
    if KEYSTONE:
        keystone_broker().register_endpoint(base_url)


@pytest.fixture
def make_barbican(base_url, catalog):
    """Clients on fresh projects; ``roles`` as in ``Api.request``, except
    that keystone mode makes ``creator`` the default."""
    def factory(roles=None, project=None):
        project = project or new_project_id()
        if KEYSTONE:
            broker = keystone_broker()
            user = broker.acting_user(project, roles or "creator")
            auth = v3.Password(auth_url=broker.auth_url, user_id=user,
                               password=broker.password(user),
                               project_id=project)
            return bc_client.Client(session=ks_session.Session(auth=auth))
        if roles is None:
            return bc_client.Client(endpoint=base_url, project_id=project)
        session = ks_session.Session(additional_headers={"X-Roles": roles})
        return bc_client.Client(session=session, endpoint=base_url,
                                project_id=project)
    return factory


@pytest.fixture
def barbican(make_barbican):
    return make_barbican()


def test_client_negotiates_the_highest_microversion(barbican):
    assert barbican.client.microversion == "1.2"


def test_store_and_get_text(barbican, base_url):
    secret = barbican.secrets.create(name="text one", payload="hello world")
    ref = secret.store()
    assert ref.startswith(base_url + "/v1/secrets/")
    assert secret.secret_ref == ref

    got = barbican.secrets.get(ref)
    assert got.name == "text one"
    assert got.status == "ACTIVE"
    assert got.secret_type == "opaque"
    assert got.content_types == {"default": "text/plain"}
    assert got.payload == "hello world"
    assert got.created is not None


def test_store_and_get_binary(barbican):
    raw = bytes(range(256))
    ref = barbican.secrets.create(name="bin", payload=raw).store()
    got = barbican.secrets.get(ref)
    assert got.content_types == {"default": "application/octet-stream"}
    assert got.payload == raw
    assert isinstance(got.payload, bytes)


def test_get_by_uuid_alone(barbican):
    ref = barbican.secrets.create(name="by-uuid", payload="u").store()
    got = barbican.secrets.get(ref.rsplit("/", 1)[1])
    assert got.name == "by-uuid"
    assert got.payload == "u"


def test_store_with_all_attributes(barbican):
    secret = barbican.secrets.create(
        name="aes", payload=bytes(range(32)), algorithm="aes",
        bit_length=256, mode="cbc", secret_type="symmetric",
        expiration="2099-01-01T00:00:00")
    ref = secret.store()
    got = barbican.secrets.get(ref)
    assert (got.name, got.algorithm, got.bit_length, got.mode,
            got.secret_type) == ("aes", "aes", 256, "cbc", "symmetric")
    assert got.expiration.year == 2099
    assert got.payload == bytes(range(32))


def test_list_with_limit_and_offset(barbican):
    refs = [barbican.secrets.create(name="s%d" % i, payload="p%d" % i).store()
            for i in range(5)]
    everything = barbican.secrets.list()
    assert [s.secret_ref for s in everything] == refs
    page = barbican.secrets.list(limit=2, offset=1)
    assert [s.name for s in page] == ["s1", "s2"]
    assert barbican.secrets.list(limit=2, offset=10) == []


def test_list_with_filters(barbican):
    barbican.secrets.create(name="a1", payload=b"\x01" * 32, algorithm="aes",
                            bit_length=256, secret_type="symmetric").store()
    barbican.secrets.create(name="a2", payload=b"\x02" * 16, algorithm="aes",
                            bit_length=128, secret_type="symmetric").store()
    barbican.secrets.create(name="pw", payload="hunter2",
                            secret_type="passphrase").store()

    assert [s.name for s in barbican.secrets.list(name="pw")] == ["pw"]
    assert [s.name for s in barbican.secrets.list(algorithm="aes")] == \
        ["a1", "a2"]
    assert [s.name for s in barbican.secrets.list(bits=128)] == ["a2"]
    assert [s.name for s in barbican.secrets.list(secret_type="passphrase")] \
        == ["pw"]
    assert [s.name for s in barbican.secrets.list(sort="name:desc")] == \
        ["pw", "a2", "a1"]


def test_two_step_create_then_update(barbican):
    ref = barbican.secrets.create(name="two-step").store()
    pending = barbican.secrets.get(ref)
    assert pending.name == "two-step"
    assert pending.content_types is None
    assert pending.payload is None

    barbican.secrets.update(ref, "filled later")
    got = barbican.secrets.get(ref)
    assert got.content_types == {"default": "text/plain"}
    assert got.payload == "filled later"

    with pytest.raises(bc_exc.HTTPClientError) as err:
        barbican.secrets.update(ref, "again")
    assert err.value.status_code == 409


def test_two_step_binary_update(barbican):
    ref = barbican.secrets.create(name="two-step-bin").store()
    raw = b"\x00\xffraw\x80"
    barbican.secrets.update(ref, raw)
    assert barbican.secrets.get(ref).payload == raw


def test_delete_then_get_is_404(barbican):
    ref = barbican.secrets.create(name="doomed", payload="bye").store()
    barbican.secrets.delete(ref)
    with pytest.raises(bc_exc.HTTPClientError) as err:
        barbican.secrets.get(ref).name
    assert err.value.status_code == 404
    assert "Secret not found." in str(err.value)
    assert barbican.secrets.list() == []


def test_secret_object_delete(barbican):
    secret = barbican.secrets.create(name="self-delete", payload="x")
    ref = secret.store()
    secret.delete()
    with pytest.raises(bc_exc.HTTPClientError) as err:
        barbican.secrets.get(ref).payload
    assert err.value.status_code == 404


def test_projects_are_isolated(barbican, make_barbican):
    ref = barbican.secrets.create(name="mine", payload="x").store()
    other = make_barbican()
    assert other.secrets.list() == []
    with pytest.raises(bc_exc.HTTPClientError) as err:
        other.secrets.get(ref).name
    assert err.value.status_code == 403


def test_observer_reads_but_cannot_write(make_barbican):
    project = new_project_id()
    writer = make_barbican(roles="creator", project=project)
    ref = writer.secrets.create(name="seen", payload="x").store()
    observer = make_barbican(roles="observer", project=project)
    assert [s.secret_ref for s in observer.secrets.list()] == [ref]
    assert observer.secrets.get(ref).payload == "x"
    with pytest.raises(bc_exc.HTTPClientError) as err:
        observer.secrets.create(name="no", payload="y").store()
    assert err.value.status_code == 403
    with pytest.raises(bc_exc.HTTPClientError) as err:
        observer.secrets.delete(ref)
    assert err.value.status_code == 403
    assert writer.secrets.get(ref).payload == "x"


# ---------------------------------------------------------------------------
# Containers and their consumers
# ---------------------------------------------------------------------------

def _wait_active(barbican, order_ref):
    """Poll through the client until the order is no longer PENDING."""
    deadline = time.monotonic() + 30
    while True:
        order = barbican.orders.get(order_ref)
        if order.status != "PENDING":
            return order
        assert time.monotonic() < deadline, "order still PENDING"
        time.sleep(0.1)


def test_generic_container(barbican, base_url):
    one = barbican.secrets.create(name="one", payload="1")
    two = barbican.secrets.create(name="two", payload="2")
    two_ref = two.store()
    container = barbican.containers.create(name="box",
                                           secrets={"one": one, "two": two})
    ref = container.store()
    assert ref.startswith(base_url + "/v1/containers/")

    got = barbican.containers.get(ref)
    assert got.name == "box"
    assert got.status == "ACTIVE"
    assert got.created is not None
    assert sorted(got.secret_refs) == ["one", "two"]
    assert got.secret_refs["two"] == two_ref
    assert got.secrets["one"].payload == "1"
    assert got.consumers == []

    assert [c.name for c in barbican.containers.list()] == ["box"]
    assert barbican.containers.list(type="rsa") == []

    barbican.containers.delete(ref)
    with pytest.raises(bc_exc.HTTPClientError) as err:
        barbican.containers.get(ref)
    assert err.value.status_code == 404
    # the secrets stay
    assert barbican.secrets.get(two_ref).payload == "2"


def test_rsa_and_certificate_containers(barbican):
    private = barbican.secrets.create(name="priv", payload="private bits",
                                      secret_type="private")
    public = barbican.secrets.create(name="pub", payload="public bits",
                                     secret_type="public")
    rsa_ref = barbican.containers.create_rsa(
        name="pair", private_key=private, public_key=public).store()
    rsa = barbican.containers.get(rsa_ref)
    assert type(rsa).__name__ == "RSAContainer"
    assert rsa.private_key.payload == "private bits"
    assert rsa.public_key.payload == "public bits"
    assert rsa.private_key_passphrase is None

    cert = barbican.secrets.create(name="cert", payload="certificate",
                                   secret_type="certificate")
    inter = barbican.secrets.create(name="inter", payload="intermediates")
    cert_ref = barbican.containers.create_certificate(
        name="tls", certificate=cert, intermediates=inter).store()
    got = barbican.containers.get(cert_ref)
    assert type(got).__name__ == "CertificateContainer"
    assert got.certificate.payload == "certificate"
    assert got.intermediates.payload == "intermediates"
    assert got.private_key is None

    assert sorted(c.name for c in barbican.containers.list()) == \
        ["pair", "tls"]
    assert [c.name for c in barbican.containers.list(type="certificate")] \
        == ["tls"]


def test_container_consumers(barbican):
    ref = barbican.containers.create(name="used").store()
    got = barbican.containers.register_consumer(ref, "lbaas",
                                                "http://lb.example/1")
    assert got.consumers == [{"name": "lbaas", "URL": "http://lb.example/1"}]
    barbican.containers.register_consumer(ref, "lbaas", "http://lb.example/1")
    assert barbican.containers.get(ref).consumers == [
        {"name": "lbaas", "URL": "http://lb.example/1"}]

    barbican.containers.remove_consumer(ref, "lbaas", "http://lb.example/1")
    assert barbican.containers.get(ref).consumers == []
    with pytest.raises(bc_exc.HTTPClientError) as err:
        barbican.containers.remove_consumer(ref, "lbaas",
                                            "http://lb.example/1")
    assert err.value.status_code == 404


# ---------------------------------------------------------------------------
# Secret consumers
# ---------------------------------------------------------------------------

def test_secret_consumers(barbican):
    ref = barbican.secrets.create(name="consumed", payload="x").store()
    got = barbican.secrets.register_consumer(ref, "image", "image", "img-1")
    assert got.consumers == [{"service": "image", "resource_type": "image",
                              "resource_id": "img-1"}]
    barbican.secrets.register_consumer(ref, "volume", "volume", "vol-1")

    listed = barbican.secrets.list_consumers(ref)
    assert [(c.service, c.resource_type, c.resource_id) for c in listed] == [
        ("image", "image", "img-1"), ("volume", "volume", "vol-1")]
    assert len(barbican.secrets.list_consumers(ref, limit=1, offset=1)) == 1
    assert len(barbican.secrets.get(ref).consumers) == 2

    barbican.secrets.remove_consumer(ref, "volume", "volume", "vol-1")
    assert [c.resource_id for c in barbican.secrets.list_consumers(ref)] == [
        "img-1"]


def test_delete_secret_with_consumers_needs_force(barbican):
    ref = barbican.secrets.create(name="in use", payload="x").store()
    barbican.secrets.register_consumer(ref, "image", "image", "img-1")
    with pytest.raises(bc_exc.SecretHasConsumers):
        barbican.secrets.delete(ref)
    assert barbican.secrets.get(ref).payload == "x"
    barbican.secrets.delete(ref, force=True)
    with pytest.raises(bc_exc.HTTPClientError) as err:
        barbican.secrets.get(ref).name
    assert err.value.status_code == 404


# ---------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------

def test_key_order(make_barbican, base_url):
    # deleting an order takes the admin role
    barbican = make_barbican(roles="admin")
    order = barbican.orders.create_key(name="ordered", algorithm="aes",
                                       bit_length=256, mode="cbc")
    order_ref = order.submit()
    assert order_ref.startswith(base_url + "/v1/orders/")
    done = _wait_active(barbican, order_ref)
    assert done.status == "ACTIVE"
    assert (done.name, done.algorithm, done.bit_length, done.mode) == (
        "ordered", "aes", 256, "cbc")

    secret = barbican.secrets.get(done.secret_ref)
    assert (secret.name, secret.secret_type, secret.algorithm,
            secret.bit_length) == ("ordered", "symmetric", "aes", 256)
    assert isinstance(secret.payload, bytes) and len(secret.payload) == 32

    assert [o.order_ref for o in barbican.orders.list()] == [order_ref]
    barbican.orders.delete(order_ref)
    assert barbican.orders.list() == []
    # the generated secret outlives its order
    assert len(barbican.secrets.get(done.secret_ref).payload) == 32


def test_asymmetric_order(barbican):
    order_ref = barbican.orders.create_asymmetric(
        name="pair", algorithm="rsa", bit_length=2048).submit()
    done = _wait_active(barbican, order_ref)
    assert done.status == "ACTIVE"

    container = barbican.containers.get(done.container_ref)
    assert type(container).__name__ == "RSAContainer"
    assert container.name == "pair"
    private = container.private_key.payload
    public = container.public_key.payload
    assert private.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert container.private_key_passphrase is None


def test_order_errors_surface_as_client_errors(barbican):
    order = barbican.orders.create_key(algorithm="aes", bit_length=100)
    with pytest.raises(bc_exc.HTTPClientError) as err:
        order.submit()
    assert err.value.status_code == 400
    assert "Provided field value is not supported" in str(err.value)


# ---------------------------------------------------------------------------
# ACLs
# ---------------------------------------------------------------------------

def test_secret_acl(barbican):
    ref = barbican.secrets.create(name="shared", payload="x").store()
    default = barbican.acls.get(ref)
    assert default.read.project_access is True
    assert default.read.users == []

    acl = barbican.acls.create(entity_ref=ref, users=["u1", "u2"],
                               project_access=False)
    assert acl.submit() == ref + "/acl"
    got = barbican.acls.get(ref)
    assert sorted(got.read.users) == ["u1", "u2"]
    assert got.read.project_access is False
    assert got.read.created is not None

    got.read.users = ["u3"]
    got.submit()
    got = barbican.acls.get(ref)
    assert got.read.users == ["u3"]
    assert got.read.project_access is False

    got.remove()
    got = barbican.acls.get(ref)
    assert got.read.project_access is True
    assert got.read.users == []
    assert got.read.created is None


def test_container_acl(barbican):
    ref = barbican.containers.create(name="acl box").store()
    barbican.acls.create(entity_ref=ref, users=["u1"]).submit()
    got = barbican.acls.get(ref)
    assert got.read.users == ["u1"]
    assert got.read.project_access is True


# ---------------------------------------------------------------------------
# Secret user metadata
# ---------------------------------------------------------------------------

def test_secret_user_metadata(barbican):
    ref = barbican.secrets.create(name="labelled", payload="x").store()
    assert barbican.secrets.get_secret_metadata(ref) == {"metadata": {}}
    resp = barbican.secrets.set_secret_metadata(ref, {"Color": "red",
                                                      "size": "xl"})
    assert resp == {"metadata_ref": ref + "/metadata"}
    assert barbican.secrets.get_secret_metadata(ref) == {
        "metadata": {"color": "red", "size": "xl"}}
    assert barbican.secrets.get_secret_metadata(ref, "color") == {
        "key": "color", "value": "red"}

    barbican.secrets.delete_secret_metadata(ref, "color")
    assert barbican.secrets.get_secret_metadata(ref) == {
        "metadata": {"size": "xl"}}
    with pytest.raises(bc_exc.HTTPClientError) as err:
        barbican.secrets.get_secret_metadata(ref, "color")
    assert err.value.status_code == 404


def test_add_secret_metadata_posts_to_the_key_url(barbican):
    # python-barbicanclient 7.6.0 POSTs to .../metadata/{key}, a route that
    # Barbican answers with 405
    ref = barbican.secrets.create(name="labelled", payload="x").store()
    with pytest.raises(bc_exc.HTTPClientError) as err:
        barbican.secrets.add_secret_metadata(ref, "shape", "round")
    assert err.value.status_code == 405
    assert barbican.secrets.get_secret_metadata(ref) == {"metadata": {}}
