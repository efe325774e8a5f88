#!/usr/bin/env python3
"""docs/openapi.yaml and docs/asyncapi.yaml against their specifications'
published JSON Schemas, with python-jsonschema.

The meta-schemas are vendored in tests/meta-schemas/ (see its README for
where each comes from), so nothing is fetched at test time:
  OpenAPI 3.1   schema-base (the document, and every Schema Object against
                the OAS 3.1 dialect: JSON Schema 2020-12 plus the OAS
                vocabulary), Draft 2020-12;
  AsyncAPI 3.0  3.0.0.json (one bundle, definitions by $id), Draft 7.
Then a self-test: a few drifts made on a copy of each document (a required
field dropped, a wrong type, an unknown field where none is allowed) must
each be refused, so the check is not vacuous. Prints each problem, then
"N passed, N failed"; exits 1 when anything failed.
"""
import copy
import json
import os
import sys

import yaml
from jsonschema import Draft7Validator, Draft202012Validator

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
META = os.path.join(HERE, "meta-schemas")

OPENAPI_FILES = ["openapi-3.1/schema.json", "openapi-3.1/schema-base.json",
                 "openapi-3.1/dialect/base.schema.json", "openapi-3.1/meta/base.schema.json"]
OPENAPI_ROOT = "openapi-3.1/schema-base.json"
ASYNCAPI_ROOT = "asyncapi-3.0/3.0.0.json"


def load_json(rel):
    with open(os.path.join(META, rel), encoding="utf-8") as f:
        return json.load(f)


def load_yaml(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return yaml.safe_load(f)


def make_validator(cls, root, store):
    """cls(root) resolving $refs to store ({$id: schema}) only: with
    jsonschema >= 4.18 through a "referencing" registry, with 4.10 (Debian's
    python3-jsonschema) through RefResolver."""
    try:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7, DRAFT202012

        spec = DRAFT7 if cls is Draft7Validator else DRAFT202012
        registry = Registry().with_resources(
            (uri, Resource.from_contents(s, default_specification=spec)) for uri, s in store.items())
        return cls(root, registry=registry)
    except ImportError:
        from jsonschema import RefResolver

        return cls(root, resolver=RefResolver.from_schema(root, store=dict(store)))


OAS_DIALECT = "https://spec.openapis.org/oas/3.1/dialect/base"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
OAS_SCHEMA = "https://spec.openapis.org/oas/3.1/schema/2021-04-15"


def openapi_validator(doc):
    """The validator for doc's jsonSchemaDialect: schema-base for the OAS
    dialect (the default); for plain JSON Schema 2020-12 (what psop-api
    declares) the same construction as schema-base, the OAS document schema
    with its "meta" dynamic anchor pointing at the 2020-12 meta-schema, so
    every Schema Object is checked as 2020-12. None for another dialect."""
    store = {}
    for rel in OPENAPI_FILES:
        s = load_json(rel)
        store[s["$id"]] = s
    dialect = doc.get("jsonSchemaDialect", OAS_DIALECT) if isinstance(doc, dict) else OAS_DIALECT
    if dialect == OAS_DIALECT:
        root = load_json(OPENAPI_ROOT)
    elif dialect == DRAFT_2020_12:
        root = {"$id": "urn:psop:openapi-3.1-schema-draft-2020-12", "$schema": DRAFT_2020_12,
                "$ref": OAS_SCHEMA,
                "$defs": {"schema": {"$dynamicAnchor": "meta", "$ref": DRAFT_2020_12}}}
        store[root["$id"]] = root
    else:
        return None
    return OpenAPIChecker(make_validator(Draft202012Validator, root, store), dialect)


def asyncapi_validator():
    root = load_json(ASYNCAPI_ROOT)
    # The bundle keys its definitions by their $id; register each under it.
    store = {d["$id"]: d for d in root.get("definitions", {}).values() if "$id" in d}
    store[root["$id"]] = root
    return make_validator(Draft7Validator, root, store)


def problems(validator, doc, limit=20):
    out = []
    for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        where = "/" + "/".join(map(str, e.absolute_path))
        # oneOf/anyOf failures: the deepest causes say what is wrong.
        causes = sorted(e.context, key=lambda c: -len(c.absolute_path))[:2] if e.context else []
        why = e.message if len(e.message) < 300 else e.message[:300] + "..."
        out.append(f"{where}: {why}" + "".join(
            f"\n      because /{'/'.join(map(str, c.absolute_path))}: {c.message[:200]}" for c in causes))
        if len(out) >= limit:
            break
    return out


def schema_objects(doc):
    """(where, Schema Object) of an OpenAPI document: components.schemas and
    every "schema" of a parameter, header or media type."""
    for name, sch in doc.get("components", {}).get("schemas", {}).items():
        yield f"/components/schemas/{name}", sch

    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "schema" and isinstance(v, (dict, bool)):
                    yield f"{where}/schema", v
                elif k not in ("schemas", "examples", "example"):
                    yield from walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, f"{where}/{i}")

    yield from walk(doc.get("paths", {}), "/paths")
    comps = {k: v for k, v in doc.get("components", {}).items() if k != "schemas"}
    yield from walk(comps, "/components")


class OpenAPIChecker:
    """The document schema, and for the 2020-12 dialect each Schema Object
    against the 2020-12 meta-schema directly too (jsonschema 4.10 does not
    follow the dynamic anchor across documents)."""

    def __init__(self, doc_validator, dialect):
        self.doc_validator = doc_validator
        self.meta = Draft202012Validator(Draft202012Validator.META_SCHEMA) if dialect == DRAFT_2020_12 else None

    def iter_problems(self, doc, limit):
        out = problems(self.doc_validator, doc, limit)
        if self.meta is not None and isinstance(doc, dict):
            for where, sch in schema_objects(doc):
                for e in self.meta.iter_errors(sch):
                    out.append(f"{where}/{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
        return out[:limit]

    def is_valid(self, doc):
        return not self.iter_problems(doc, 1)


class PlainChecker:
    def __init__(self, validator):
        self.validator = validator

    def iter_problems(self, doc, limit):
        return problems(self.validator, doc, limit)

    def is_valid(self, doc):
        return self.validator.is_valid(doc)


def drifts_openapi(doc):
    """(what, broken copy) pairs the validator must refuse."""
    d = copy.deepcopy(doc)
    del d["info"]
    yield "info dropped", d
    d = copy.deepcopy(doc)
    d["openapi"] = "3.1"
    yield "openapi version not x.y.z", d
    d = copy.deepcopy(doc)
    path = next(iter(d["paths"]))
    op = next(v for k, v in d["paths"][path].items() if isinstance(v, dict) and "responses" in v)
    code = next(iter(op["responses"]))
    op["responses"][code] = {"content": {}}
    yield f"{path} response {code} without description", d
    d = copy.deepcopy(doc)
    d["paths"][path]["frobnicate"] = {}
    yield "unknown field in a path item", d
    d = copy.deepcopy(doc)
    name = next(iter(d.get("components", {}).get("schemas", {})), None)
    if name:
        d["components"]["schemas"][name] = {"type": "strnig"}
        yield f"schema {name} with a misspelt type", d
    d = copy.deepcopy(doc)
    op = next(v for k, v in d["paths"][path].items() if isinstance(v, dict) and "responses" in v)
    op.setdefault("parameters", []).append(
        {"name": "x", "in": "query", "schema": {"properties": {"a": {"minLength": -1}}}})
    yield f"{path}: a parameter schema with a negative minLength deep inside", d


def drifts_asyncapi(doc):
    d = copy.deepcopy(doc)
    del d["info"]
    yield "info dropped", d
    d = copy.deepcopy(doc)
    d["asyncapi"] = 3
    yield "asyncapi version not a string", d
    d = copy.deepcopy(doc)
    ch = next(iter(d["channels"]))
    d["channels"][ch]["frobnicate"] = 1
    yield f"unknown field in channel {ch}", d
    d = copy.deepcopy(doc)
    op = next(iter(d.get("operations", {})), None)
    if op:
        d["operations"][op]["action"] = "publish"
        yield f"operation {op} with a 2.x action", d


def main():
    passed = failed = 0
    checks = [("docs/openapi.yaml", openapi_validator, drifts_openapi),
              ("docs/asyncapi.yaml", lambda doc: PlainChecker(asyncapi_validator()), drifts_asyncapi)]
    for rel, make, drifts in checks:
        doc = load_yaml(rel)
        validator = make(doc)
        if validator is None:
            failed += 1
            print(f"FAIL {rel}: jsonSchemaDialect {doc.get('jsonSchemaDialect')!r} is not one this check knows")
            continue
        found = validator.iter_problems(doc, 20)
        if found:
            failed += 1
            print(f"FAIL {rel}: {len(found)} problem(s){' (first 20)' if len(found) >= 20 else ''}")
            for p in found:
                print("   ", p)
        else:
            passed += 1
            print(f"ok   {rel}")
        for what, broken in drifts(doc):
            if validator.is_valid(broken):
                failed += 1
                print(f"FAIL self-test {rel}: {what} was not refused")
            else:
                passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
