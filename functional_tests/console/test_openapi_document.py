"""The OpenAPI document, checked by real validators: openapi-spec-validator over
the served ``/openapi.json`` and the checked-in ``openapi/coffer.json``, and
every example in it against its schema (openapi-schema-validator, OAS 3.1).

Run by ``scripts/test-console`` against ``COFFER_URL``.
"""
import copy
import json
import pathlib

import pytest
import requests
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

CHECKED_IN = (pathlib.Path(__file__).resolve().parents[2]
              / "openapi" / "coffer.json")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch",
           "trace")


@pytest.fixture(scope="module")
def served(base_url):
    resp = requests.get(base_url + "/openapi.json", timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def checked_in():
    return json.loads(CHECKED_IN.read_text(encoding="utf-8"))


def test_served_document_is_valid_openapi(served):
    validate(served)


def test_checked_in_document_is_valid_openapi(checked_in):
    validate(checked_in)


def test_served_document_is_the_checked_in_one(served, checked_in):
    assert served == checked_in


def test_the_validator_refuses_a_duplicate_operation_id(checked_in):
    # The check above is not vacuous: the defect the console suffered from
    # (two operations named `list`) fails validation.
    doc = copy.deepcopy(checked_in)
    doc["paths"]["/v1/orders"]["get"]["operationId"] = "list_secrets"
    with pytest.raises(OpenAPIValidationError, match="not unique"):
        validate(doc)


def _examples(doc):
    """(where, status, schema, example) for every example in the document;
    status is the documented response status of an operation's response
    example, None elsewhere."""
    for name, schema in doc["components"]["schemas"].items():
        for example in schema.get("examples", []):
            yield ("components.schemas." + name, None,
                   {"$ref": "#/components/schemas/" + name}, example)

    def media(where, status, content):
        for media_type, body in (content or {}).items():
            schema = body.get("schema", {})
            if "example" in body:
                yield (where + " " + media_type, status, schema,
                       body["example"])
            for name, example in body.get("examples", {}).items():
                yield ("%s %s (%s)" % (where, media_type, name), status,
                       schema, example["value"])

    for name, response in doc["components"].get("responses", {}).items():
        yield from media("components.responses." + name, None,
                         response.get("content"))
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            where = "%s %s" % (method.upper(), path)
            for param in op.get("parameters", []):
                if "example" in param:
                    yield (where + " parameter " + param["name"], None,
                           param.get("schema", {}), param["example"])
            yield from media(where + " request", None,
                             op.get("requestBody", {}).get("content"))
            for status, response in op["responses"].items():
                yield from media("%s %s" % (where, status), int(status),
                                 response.get("content"))


def test_every_example_matches_its_schema(checked_in):
    failures = []
    count = 0
    for where, _, schema, example in _examples(checked_in):
        # References resolve against the document's components.
        root = dict(schema, components=checked_in["components"])
        validator = OAS31Validator(
            root, format_checker=OAS31Validator.FORMAT_CHECKER)
        for error in validator.iter_errors(example):
            failures.append("%s: %s" % (where, error.message))
        count += 1
    assert not failures, "\n".join(failures)
    # Every component schema, every error response, the request bodies.
    assert count > 150, count


def test_error_examples_carry_their_status(checked_in):
    # Swagger UI used to show `"code": 1073741824`: every error example now
    # says the status it documents.
    seen = 0
    for where, status, schema, example in _examples(checked_in):
        if status is None \
                or schema.get("$ref") != "#/components/schemas/ErrorBody":
            continue
        assert example["code"] == status, where
        seen += 1
    assert seen > 100, seen
