"""The real python-barbicanclient, unauthenticated, used unchanged."""
import pytest

from barbicanclient import client as bc_client
from barbicanclient import exceptions as bc_exc

from conftest import new_project_id


@pytest.fixture
def barbican(base_url):
    return bc_client.Client(endpoint=base_url, project_id=new_project_id())


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


def test_projects_are_isolated(barbican, base_url):
    ref = barbican.secrets.create(name="mine", payload="x").store()
    other = bc_client.Client(endpoint=base_url, project_id=new_project_id())
    assert other.secrets.list() == []
    with pytest.raises(bc_exc.HTTPClientError) as err:
        other.secrets.get(ref).name
    assert err.value.status_code == 403
