"""Listing secrets: paging, links, sorting and filters."""
import datetime

import pytest

from conftest import (METADATA_KEYS, assert_error, assert_json_content_type,
                      assert_status, assert_v1_headers, parse_json,
                      same_json_with_order)

BAD_QUERY = "URI provided invalid query string parameters."


def make_secrets(api, count, prefix="ls"):
    """Create ``count`` text secrets named prefix0..; return their ids."""
    return [api.create_secret({"name": "%s%d" % (prefix, i),
                               "payload": "p%d" % i,
                               "payload_content_type": "text/plain"})[0]
            for i in range(count)]


def listing(api, query="", **kw):
    resp = api.get("/v1/secrets" + query, **kw)
    assert_status(resp, 200)
    assert_json_content_type(resp)
    return parse_json(resp)


def names(body):
    return [s["name"] for s in body["secrets"]]


def href(api, query):
    return api.base + "/v1/secrets?" + query


@pytest.fixture
def five(api):
    return make_secrets(api, 5)


# ---------------------------------------------------------------------------
# Shape
# ---------------------------------------------------------------------------

def test_empty_project(api):
    resp = api.get("/v1/secrets")
    assert_status(resp, 200)
    assert_json_content_type(resp)
    assert_v1_headers(resp)
    body = parse_json(resp)
    assert same_json_with_order(body, {"secrets": [], "total": 0})


def test_list_items_are_the_metadata_objects(api, five):
    body = listing(api)
    assert list(body.keys()) == ["secrets", "total"]
    assert body["total"] == 5
    assert names(body) == ["ls0", "ls1", "ls2", "ls3", "ls4"]
    for item, sid in zip(body["secrets"], five):
        assert list(item.keys()) == METADATA_KEYS
        assert same_json_with_order(item, api.metadata(sid))


def test_list_with_microversion_1_1_has_consumers(api, five):
    resp = api.get("/v1/secrets?limit=1", api_version="key-manager 1.1")
    assert_status(resp, 200)
    assert_v1_headers(resp, "1.1")
    item = parse_json(resp)["secrets"][0]
    keys = list(item.keys())
    assert keys[keys.index("creator_id") + 1] == "consumers"
    assert item["consumers"] == []


def test_list_never_contains_payloads(api):
    api.create_secret({"payload": "do-not-show",
                       "payload_content_type": "text/plain"})
    resp = api.get("/v1/secrets")
    assert b"do-not-show" not in resp.content


# ---------------------------------------------------------------------------
# Paging (five secrets)
# ---------------------------------------------------------------------------

def test_first_page(api, five):
    body = listing(api, "?limit=2&offset=0")
    assert list(body.keys()) == ["secrets", "next", "total"]
    assert names(body) == ["ls0", "ls1"]
    assert body["next"] == href(api, "limit=2&offset=2")
    assert body["total"] == 5


def test_middle_page(api, five):
    body = listing(api, "?limit=2&offset=2")
    assert list(body.keys()) == ["secrets", "previous", "next", "total"]
    assert names(body) == ["ls2", "ls3"]
    assert body["previous"] == href(api, "limit=2&offset=0")
    assert body["next"] == href(api, "limit=2&offset=4")
    assert body["total"] == 5


def test_last_page(api, five):
    body = listing(api, "?limit=2&offset=4")
    assert list(body.keys()) == ["secrets", "previous", "total"]
    assert names(body) == ["ls4"]
    assert body["previous"] == href(api, "limit=2&offset=2")


def test_previous_offset_never_negative(api, five):
    body = listing(api, "?limit=3&offset=1")
    assert names(body) == ["ls1", "ls2", "ls3"]
    assert body["previous"] == href(api, "limit=3&offset=0")
    assert body["next"] == href(api, "limit=3&offset=4")


def test_exact_fit_has_no_next(api, five):
    body = listing(api, "?limit=5&offset=0")
    assert list(body.keys()) == ["secrets", "total"]
    assert len(body["secrets"]) == 5


def test_offset_past_end(api, five):
    body = listing(api, "?limit=2&offset=10")
    assert same_json_with_order(body, {"secrets": [], "total": 5})


def test_negative_offset_is_zero(api, five):
    body = listing(api, "?limit=2&offset=-1")
    assert list(body.keys()) == ["secrets", "next", "total"]
    assert names(body) == ["ls0", "ls1"]
    assert body["next"] == href(api, "limit=2&offset=2")


def test_limit_zero_behaves_as_one(api, five):
    body = listing(api, "?limit=0")
    assert list(body.keys()) == ["secrets", "next", "total"]
    assert names(body) == ["ls0"]
    assert body["next"] == href(api, "limit=1&offset=1")


def test_negative_limit_behaves_as_one(api, five):
    body = listing(api, "?limit=-5")
    assert names(body) == ["ls0"]
    assert body["next"] == href(api, "limit=1&offset=1")


def test_limit_is_clamped_to_100(api, five):
    body = listing(api, "?limit=1000&offset=0")
    assert list(body.keys()) == ["secrets", "total"]
    assert len(body["secrets"]) == 5
    body = listing(api, "?limit=1000&offset=1")
    assert body["previous"] == href(api, "limit=100&offset=0")


def test_limit_abc_means_default(api, five):
    body = listing(api, "?limit=abc")
    assert list(body.keys()) == ["secrets", "total"]
    assert names(body) == ["ls0", "ls1", "ls2", "ls3", "ls4"]
    body = listing(api, "?limit=abc&offset=1")
    assert body["previous"] == href(api, "limit=10&offset=0")


def test_offset_abc_means_zero(api, five):
    body = listing(api, "?limit=2&offset=abc")
    assert names(body) == ["ls0", "ls1"]
    assert "previous" not in body


def test_default_limit_is_10(api):
    make_secrets(api, 12, prefix="d")
    body = listing(api)
    assert list(body.keys()) == ["secrets", "next", "total"]
    assert len(body["secrets"]) == 10
    assert body["next"] == href(api, "limit=10&offset=10")
    assert body["total"] == 12
    body = listing(api, "?offset=10")
    assert names(body) == ["d10", "d11"]
    assert body["previous"] == href(api, "limit=10&offset=0")


def test_following_next_links_walks_everything(api, five):
    seen = []
    url = api.base + "/v1/secrets?limit=2"
    while url:
        resp = api.get(url)
        assert_status(resp, 200)
        body = parse_json(resp)
        seen.extend(names(body))
        url = body.get("next")
    assert seen == ["ls0", "ls1", "ls2", "ls3", "ls4"]


# ---------------------------------------------------------------------------
# Other parameters are kept in the links, URL-encoded, after limit&offset
# ---------------------------------------------------------------------------

def test_sort_is_kept_in_links(api, five):
    body = listing(api, "?sort=name:desc&limit=3")
    assert names(body) == ["ls4", "ls3", "ls2"]
    assert body["next"] == href(api, "limit=3&offset=3&sort=name%3Adesc")
    body = listing(api, "?sort=name:desc&limit=3&offset=3")
    assert names(body) == ["ls1", "ls0"]
    assert body["previous"] == href(api, "limit=3&offset=0&sort=name%3Adesc")


def test_filter_is_kept_in_links(api):
    for i in range(3):
        api.create_secret({"name": "pp%d" % i, "secret_type": "passphrase",
                           "payload": "x", "payload_content_type": "text/plain"})
    make_secrets(api, 2, prefix="op")
    body = listing(api, "?secret_type=passphrase&limit=2")
    assert names(body) == ["pp0", "pp1"]
    assert body["total"] == 3
    assert body["next"] == href(api,
                                "limit=2&offset=2&secret_type=passphrase")
    body = listing(api, "?limit=2&offset=2&secret_type=passphrase")
    assert names(body) == ["pp2"]
    assert body["previous"] == href(api,
                                    "limit=2&offset=0&secret_type=passphrase")


def test_several_params_keep_their_order(api, five):
    body = listing(api, "?sort=name:asc&secret_type=opaque&limit=1")
    assert names(body) == ["ls0"]
    assert body["next"] == href(
        api, "limit=1&offset=1&sort=name%3Aasc&secret_type=opaque")


# ---------------------------------------------------------------------------
# Sorting
# ---------------------------------------------------------------------------

def test_default_order_is_created_ascending(api, five):
    body = listing(api)
    created = [s["created"] for s in body["secrets"]]
    assert created == sorted(created, key=datetime.datetime.fromisoformat)
    assert names(body) == ["ls0", "ls1", "ls2", "ls3", "ls4"]


def test_sort_name_desc(api, five):
    assert names(listing(api, "?sort=name:desc")) == [
        "ls4", "ls3", "ls2", "ls1", "ls0"]


def test_sort_name_without_direction_is_ascending(api):
    for n in ("b", "c", "a"):
        api.create_secret({"name": n, "payload": "x",
                           "payload_content_type": "text/plain"})
    assert names(listing(api, "?sort=name")) == ["a", "b", "c"]
    assert names(listing(api)) == ["b", "c", "a"]


def test_sort_created_desc(api, five):
    assert names(listing(api, "?sort=created:desc")) == [
        "ls4", "ls3", "ls2", "ls1", "ls0"]


def test_unset_values_sort_first_ascending_and_last_descending(api):
    # As Barbican on SQLite or MySQL (NULL is the smallest value), whatever Coffer's backend.
    for name, bits in (("b", 128), (None, None), ("a", 256)):
        body = {"payload": "x", "payload_content_type": "text/plain"}
        if name:
            body.update(name=name, bit_length=bits)
        api.create_secret(body)
    assert names(listing(api, "?sort=name:asc")) == [None, "a", "b"]
    assert names(listing(api, "?sort=name:desc")) == ["b", "a", None]
    assert names(listing(api, "?sort=bit_length:asc")) == [None, "b", "a"]
    assert names(listing(api, "?sort=bit_length:desc")) == ["a", "b", None]


def test_sort_on_two_keys(api):
    for name, bits in (("k1", 256), ("k2", 128), ("k3", 256), ("k4", 128)):
        api.create_secret({"name": name, "bit_length": bits, "payload": "x",
                           "payload_content_type": "text/plain"})
    body = listing(api, "?sort=bit_length:asc,name:desc")
    assert names(body) == ["k4", "k2", "k3", "k1"]


@pytest.mark.parametrize("sort", [
    "bogus", "name:sideways", "name:asc:desc", "name:asc,name:desc", "payload"])
def test_bad_sort_is_400(api, five, sort):
    resp = api.get("/v1/secrets", params={"sort": sort})
    assert_error(resp, 400, BAD_QUERY)


# ---------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------

@pytest.fixture
def varied(api):
    """Secrets with different attributes; returns name -> id."""
    specs = [
        ("aes-256-cbc", "symmetric", "aes", 256, "cbc"),
        ("aes-128-cbc", "symmetric", "aes", 128, "cbc"),
        ("aes-256-gcm", "symmetric", "aes", 256, "gcm"),
        ("rsa-2048", "private", "rsa", 2048, None),
        ("plain", "opaque", None, None, None),
    ]
    ids = {}
    for name, stype, alg, bits, mode in specs:
        body = {"name": name, "secret_type": stype, "payload": "x",
                "payload_content_type": "text/plain"}
        if alg:
            body["algorithm"] = alg
        if bits:
            body["bit_length"] = bits
        if mode:
            body["mode"] = mode
        ids[name] = api.create_secret(body)[0]
    return ids


@pytest.mark.parametrize("query,expected", [
    ("name=aes-128-cbc", ["aes-128-cbc"]),
    ("name=aes", []),
    ("alg=aes", ["aes-256-cbc", "aes-128-cbc", "aes-256-gcm"]),
    ("alg=rsa", ["rsa-2048"]),
    ("mode=gcm", ["aes-256-gcm"]),
    ("bits=256", ["aes-256-cbc", "aes-256-gcm"]),
    ("bits=abc", ["aes-256-cbc", "aes-128-cbc", "aes-256-gcm", "rsa-2048",
                  "plain"]),
    ("secret_type=symmetric", ["aes-256-cbc", "aes-128-cbc", "aes-256-gcm"]),
    ("secret_type=opaque", ["plain"]),
    ("secret_type=certificate", []),
    ("alg=aes&mode=cbc&bits=256", ["aes-256-cbc"]),
])
def test_filters(api, varied, query, expected):
    body = listing(api, "?" + query)
    assert names(body) == expected
    assert body["total"] == len(expected)


def test_name_filter_with_space(api):
    api.create_secret({"name": "my secret", "payload": "x",
                       "payload_content_type": "text/plain"})
    api.create_secret({"name": "my", "payload": "x",
                       "payload_content_type": "text/plain"})
    body = listing(api, "?name=my%20secret")
    assert names(body) == ["my secret"]


@pytest.fixture
def dated(api):
    """Five secrets and their server-side creation times, in order."""
    ids = make_secrets(api, 5, prefix="t")
    created = [api.metadata(sid)["created"] for sid in ids]
    return list(zip(["t%d" % i for i in range(5)], created))


def _expect(dated, predicate):
    return [name for name, ts in dated
            if predicate(datetime.datetime.fromisoformat(ts))]


@pytest.mark.parametrize("op,cmp", [
    ("gt", lambda a, b: a > b),
    ("gte", lambda a, b: a >= b),
    ("lt", lambda a, b: a < b),
    ("lte", lambda a, b: a <= b),
])
def test_created_filter_relative_to_a_secret(api, dated, op, cmp):
    pivot = dated[2][1]
    p = datetime.datetime.fromisoformat(pivot)
    body = listing(api, "", params={"created": "%s:%s" % (op, pivot)})
    assert names(body) == _expect(dated, lambda t: cmp(t, p))


def test_created_filter_range(api, dated):
    low, high = dated[0][1], dated[4][1]
    lo = datetime.datetime.fromisoformat(low)
    hi = datetime.datetime.fromisoformat(high)
    body = listing(api, "", params={"created": "gt:%s,lt:%s" % (low, high)})
    assert names(body) == _expect(dated, lambda t: lo < t < hi)
    body = listing(api, "", params={"created": "gte:%s,lte:%s" % (low, high)})
    assert names(body) == _expect(dated, lambda t: lo <= t <= hi)


def test_created_filter_far_past_and_future(api, dated):
    everyone = [name for name, _ in dated]
    assert names(listing(api, "", params={
        "created": "gt:2000-01-01T00:00:00"})) == everyone
    assert names(listing(api, "", params={
        "created": "lt:2999-01-01T00:00:00"})) == everyone
    assert listing(api, "", params={
        "created": "gt:2999-01-01T00:00:00"}) == {"secrets": [], "total": 0}
    assert listing(api, "", params={
        "created": "gt:2000-01-01T00:00:00,lt:2001-01-01T00:00:00"}) == {
        "secrets": [], "total": 0}


def test_updated_filter(api, dated):
    assert names(listing(api, "", params={
        "updated": "gte:2000-01-01T00:00:00"})) == [n for n, _ in dated]
    assert listing(api, "", params={"updated": "lt:2000-01-01T00:00:00"}) \
        == {"secrets": [], "total": 0}


def test_expiration_filter(api):
    api.create_secret({"name": "soon", "payload": "x",
                       "payload_content_type": "text/plain",
                       "expiration": "2090-01-01T00:00:00"})
    api.create_secret({"name": "late", "payload": "x",
                       "payload_content_type": "text/plain",
                       "expiration": "2095-01-01T00:00:00"})
    api.create_secret({"name": "never", "payload": "x",
                       "payload_content_type": "text/plain"})
    assert names(listing(api, "", params={
        "expiration": "gt:2092-01-01T00:00:00"})) == ["late"]
    assert names(listing(api, "", params={
        "expiration": "lt:2092-01-01T00:00:00"})) == ["soon"]


@pytest.mark.parametrize("field", ["created", "updated", "expiration"])
@pytest.mark.parametrize("value", [
    "gt:not-a-date",
    "yesterday",
    "gt:2020-01-01T00:00:00,gte:2020-01-01T00:00:00",
    "lt:2020-01-01T00:00:00,lt:2021-01-01T00:00:00",
])
def test_invalid_date_filter_is_400(api, field, value):
    resp = api.get("/v1/secrets", params={field: value})
    assert_error(resp, 400, BAD_QUERY)
