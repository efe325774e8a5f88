#!/usr/bin/env python3
"""Cross-check of our schema validator with an independent one.

Every case in tests/fixtures/schema/**.json ({"name", "valid", "doc"}) is
validated with python-jsonschema's Draft202012Validator against the schema of
the same name under schemas/, and the verdict must equal the case's "valid".
The C validator (tests/unit/json_schema.c) checks the same cases against the
same flags.

Then the fuzz corpus is replayed through both validators: the fixture docs,
tests/fuzz/corpus.hex and what fuzz runs found (build-fuzz/corpus, when there
is one) go through our front door (json_strict_parse + jschema_validate, by
$PSOP_BUILD/tests/fuzz/psop-schema-replay) and, wherever ours parsed the
bytes, through Python's json and jsonschema, against every schema the fuzz
target uses (tests/fuzz/targets.h). Any verdict that differs fails.

Works offline with jsonschema 4.10 (Debian's python3-jsonschema, RefResolver)
and with 4.18+ (the "referencing" registry): every schema is registered under
its "$id", and relative $refs resolve against those ids.

Where Python's defaults would not mean what JSON Schema / our C validator
means, this script overrides them, on purpose and only there:

* multipleOf: Python computes 1.15 / 0.01 = 114.99999999999999 and rejects
  1.15. The override uses decimal arithmetic on the number as written
  (repr() of a float is the shortest string that reads back to it, i.e. what
  the client sent), so 1.15 is a multiple of 0.01 and 1.155 is not. The C
  validator decides the same thing: some n / 100 rounds to exactly the value.
* pattern: Python's "$" also matches before a final newline, ECMA-262's (and
  PCRE2's with DOLLAR_ENDONLY) does not. The override rewrites an unescaped
  "$" outside a bracket expression to "\\Z", so "VAN\\n" does not pass
  ^[A-Z0-9]{2,10}$, and an unescaped "." to ECMA-262's [^\\n\\r\\u2028\\u2029]
  (Python's refuses only \\n). It compiles with re.ASCII: ECMA-262's \\d, \\w
  and \\b are ASCII (Python's are Unicode); \\s then is ASCII too, as in our
  PCRE2 reading (lib/wire/jschema.c, docs/decisions.md).
* formats: a FormatChecker with none of jsonschema's own checkers, and our
  own implementations of date, date-time, year-month, uuid, email,
  fi-business-id and iban (written from the RFCs and the rules in
  lib/wire/jschema.h and lib/domain/fi.h, not from the C code).

Also checks every schema against the draft 2020-12 meta-schema, and the
event schemas (schemas/events/, the contract with integrations) for their
shape: each <type>.json requires the CloudEvents envelope (allOf
cloudevent.json), fixes "type" to its file name, has an "$id" naming its
path, and has fixtures with at least one valid and two invalid cases.
Prints the failures, then "N passed, N failed" as the last line; exits 1 when
anything failed.
"""
import calendar
import decimal
import json
import os
import re
import subprocess
import sys

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
SCHEMA_DIR = os.path.join(ROOT, "schemas")
FIXTURE_DIR = os.path.join(HERE, "fixtures", "schema")
BUILD_DIR = os.environ.get("PSOP_BUILD") or os.path.join(ROOT, "build")
REPLAY = os.path.join(BUILD_DIR, "tests", "fuzz", "psop-schema-replay")
FUZZ_FINDS = os.path.join(ROOT, "build-fuzz", "corpus")

sys.path.insert(0, os.path.join(HERE, "fuzz"))
import seeds  # noqa: E402  (tests/fuzz/seeds.py: the corpus the fuzzer starts from)

# --- formats -----------------------------------------------------------------

formats = FormatChecker(formats=())

DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def real_date(y, m, d):
    return 1900 <= y <= 9999 and 1 <= m <= 12 and 1 <= d <= calendar.monthrange(y, m)[1]


@formats.checks("date")
def is_date(s):
    if not isinstance(s, str):
        return True
    m = DATE_RE.fullmatch(s)
    return bool(m) and real_date(*map(int, m.groups()))


@formats.checks("year-month")
def is_year_month(s):
    if not isinstance(s, str):
        return True
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})", s)
    return bool(m) and 1900 <= int(m[1]) <= 9999 and 1 <= int(m[2]) <= 12


DATE_TIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.[0-9]{1,9})?(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))"
)


@formats.checks("date-time")
def is_date_time(s):
    # RFC 3339 section 5.6 with a required offset; leap second 60 refused.
    if not isinstance(s, str):
        return True
    m = DATE_TIME_RE.fullmatch(s)
    if not m:
        return False
    y, mo, d, hh, mm, ss = (int(m[i]) for i in range(1, 7))
    if not real_date(y, mo, d) or hh > 23 or mm > 59 or ss > 59:
        return False
    if m[7] is not None and (int(m[7]) > 23 or int(m[8]) > 59):
        return False
    return True


@formats.checks("uuid")
def is_uuid(s):
    if not isinstance(s, str):
        return True
    return re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", s) is not None


LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")


@formats.checks("email")
def is_email(s):
    # Dot-atom local part (<= 64), domain of >= 2 LDH labels (<= 63 each).
    if not isinstance(s, str):
        return True
    if len(s) > 254 or s.count("@") != 1:
        return False
    local, domain = s.split("@")
    if not (1 <= len(local) <= 64) or not LOCAL_RE.fullmatch(local):
        return False
    labels = domain.split(".")
    return len(labels) >= 2 and all(len(l) <= 63 and LABEL_RE.fullmatch(l) for l in labels)


@formats.checks("fi-business-id")
def is_business_id(s):
    # Y-tunnus: weights 7,9,10,5,8,4,2; remainder 0 -> 0, 1 -> invalid, else 11 - r.
    if not isinstance(s, str):
        return True
    if not re.fullmatch(r"[0-9]{7}-[0-9]", s):
        return False
    r = sum(int(c) * w for c, w in zip(s[:7], (7, 9, 10, 5, 8, 4, 2))) % 11
    return r != 1 and int(s[8]) == (0 if r == 0 else 11 - r)


# IBAN lengths of SEPA countries (SWIFT IBAN registry).
SEPA_IBAN_LENGTH = {
    "AD": 24, "AL": 28, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24,
    "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23,
    "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "RO": 24, "RS": 22, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "VA": 22,
}


@formats.checks("iban")
def is_iban(s):
    # ISO 13616: move the first four characters to the end, letters to 10..35, mod 97 == 1.
    if not isinstance(s, str):
        return True
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", s):
        return False
    if SEPA_IBAN_LENGTH.get(s[:2]) != len(s):
        return False
    digits = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    return int(digits) % 97 == 1


# --- keyword overrides ---------------------------------------------------------


def as_decimal(x):
    # repr() of a float is the shortest decimal that reads back to it: the number as written.
    return decimal.Decimal(repr(x)) if isinstance(x, float) else decimal.Decimal(x)


def multiple_of(validator, m, instance, schema):
    if not validator.is_type(instance, "number"):
        return
    with decimal.localcontext() as ctx:
        ctx.prec = 80
        q = as_decimal(instance) / as_decimal(m)
        if q != q.to_integral_value():
            yield ValidationError(f"{instance!r} is not a multiple of {m}")


def ecma_pattern(p):
    """Rewrites unescaped "$" outside [...] to "\\Z" (ECMA-262 end of input) and
    "." to ECMA-262's "any but a line terminator"."""
    out, i, in_class = [], 0, False
    while i < len(p):
        c = p[i]
        if c == "\\":
            out.append(p[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            if p[i + 1:i + 2] == "]" or p[i + 1:i + 3] == "^]":  # a leading ']' is literal
                n = 2 if p[i + 1] == "]" else 3
                out.append(p[i:i + n])
                i += n
                continue
        elif c == "$":
            out.append(r"\Z")
            i += 1
            continue
        elif c == ".":
            out.append("[^\n\r\u2028\u2029]")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


_compiled = {}


def pattern(validator, p, instance, schema):
    if not validator.is_type(instance, "string"):
        return
    if p not in _compiled:
        _compiled[p] = re.compile(ecma_pattern(p), re.ASCII)
    if not _compiled[p].search(instance):
        yield ValidationError(f"{instance!r} does not match {p!r}")


Validator = validators.extend(Draft202012Validator, {"multipleOf": multiple_of, "pattern": pattern})

# --- loading -------------------------------------------------------------------


def reject_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate keys in {keys}")
    return dict(pairs)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f, object_pairs_hook=reject_duplicates)


def walk(top):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in sorted(filenames):
            if fn.endswith(".json") and not fn.startswith("."):
                path = os.path.join(dirpath, fn)
                yield os.path.relpath(path, top)[:-5].replace(os.sep, "/"), path


def make_validator_factory(schemas_by_id):
    try:  # jsonschema >= 4.18
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012

        registry = Registry().with_resources(
            (uri, DRAFT202012.create_resource(s)) for uri, s in schemas_by_id.items()
        )
        return lambda schema: Validator(schema, registry=registry, format_checker=formats)
    except ImportError:  # jsonschema 4.10 (Debian bookworm)
        from jsonschema import RefResolver

        def factory(schema):
            resolver = RefResolver.from_schema(schema, store=dict(schemas_by_id))
            return Validator(schema, resolver=resolver, format_checker=formats)

        return factory


EVENT_ID_BASE = "https://psop.example/schemas/"
ENVELOPE = "events/cloudevent"


def check_event_schemas(schemas):
    """Yields (what, None) for each passed check, (what, why) for each failure."""
    for name in sorted(n for n in schemas if n.startswith("events/")):
        s = schemas[name]
        want_id = EVENT_ID_BASE + name + ".json"
        yield f"schema {name} $id", None if s.get("$id") == want_id else f"$id should be {want_id}"
        if name == ENVELOPE:
            continue
        etype = name[len("events/"):]
        refs = [b.get("$ref") for b in s.get("allOf", []) if isinstance(b, dict)]
        yield f"schema {name} envelope", None if "cloudevent.json" in refs else "allOf must $ref cloudevent.json"
        const = s.get("properties", {}).get("type", {}).get("const")
        yield f"schema {name} type", None if const == etype else f"type const {const!r}, want {etype!r}"
        data = s.get("properties", {}).get("data", {})
        ok = data.get("type") == "object" and data.get("required")
        yield f"schema {name} data", None if ok else "data must be an object with required fields"
        path = os.path.join(FIXTURE_DIR, name + ".json")
        if not os.path.exists(path):
            yield f"fixtures {name}", "no fixture file"
            continue
        cases = load_json(path)
        nvalid = sum(1 for c in cases if c.get("valid") is True)
        ninvalid = sum(1 for c in cases if c.get("valid") is False)
        ok = nvalid >= 1 and ninvalid >= 2
        yield f"fixtures {name}", None if ok else f"{nvalid} valid, {ninvalid} invalid cases: want >= 1 and >= 2"


def corpus_inputs():
    """(origin, bytes) of every input of the fuzz corpus."""
    for i, data in enumerate(seeds.inputs()):
        yield f"seed {i}", data
    if os.path.isdir(FUZZ_FINDS):
        for fn in sorted(os.listdir(FUZZ_FINDS)):
            with open(os.path.join(FUZZ_FINDS, fn), "rb") as f:
                yield f"build-fuzz/corpus/{fn}", f.read()


def replay_corpus(schemas, factory):
    """Both validators on every corpus input: (passed, failed), one pass per
    input on which they agree for every target."""
    inputs = list(corpus_inputs())
    if not os.access(REPLAY, os.X_OK):
        print(f"FAIL corpus replay: {REPLAY} not built (set PSOP_BUILD)")
        return 0, 1
    proc = subprocess.run([REPLAY, SCHEMA_DIR], input="".join(d.hex() + "\n" for _, d in inputs),
                          capture_output=True, text=True)
    verdicts = [json.loads(line) for line in proc.stdout.splitlines()]
    if proc.returncode != 0 or len(verdicts) != len(inputs):
        print(f"FAIL corpus replay: exit {proc.returncode}, {len(verdicts)} verdicts for"
              f" {len(inputs)} inputs: {proc.stderr.strip()}")
        return 0, 1
    validators_of = {}
    passed = failed = parsed = 0
    for (origin, data), ours in zip(inputs, verdicts):
        if not ours["parsed"]:
            passed += 1  # refused at the front door: no schema verdict to compare
            continue
        parsed += 1
        try:
            doc = json.loads(data.decode("utf-8"), object_pairs_hook=reject_duplicates)
        except ValueError as e:
            failed += 1
            print(f"FAIL corpus {origin}: ours parsed it, Python's json refuses it: {e}")
            continue
        differ = []
        for target, our_valid in ours["valid"].items():
            if target not in schemas:
                differ.append(f"{target}: no such schema")
                continue
            if target not in validators_of:
                validators_of[target] = factory(schemas[target])
            errors = list(validators_of[target].iter_errors(doc))
            if (not errors) != our_valid:
                why = "; ".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:3])
                differ.append(f"{target}: ours {'valid' if our_valid else 'invalid'},"
                              f" python-jsonschema {'valid' if not errors else 'invalid (' + why + ')'}")
        if differ:
            failed += 1
            shown = data[:200].decode("utf-8", "replace")
            print(f"FAIL corpus {origin} {shown!r}: " + " | ".join(differ))
        else:
            passed += 1
    ntargets = max((len(v["valid"]) for v in verdicts if v["parsed"]), default=0)
    print(f"corpus replay: {len(inputs)} inputs, {parsed} parsed by ours, each against"
          f" {ntargets} schemas")
    if parsed == 0:
        print("FAIL corpus replay: no input parsed, nothing compared")
        failed += 1
    return passed, failed


def main():
    passed = failed = 0
    schemas = {}
    for name, path in walk(SCHEMA_DIR):
        try:
            schemas[name] = load_json(path)
            Draft202012Validator.check_schema(schemas[name])
            passed += 1
        except (ValueError, jsonschema.SchemaError) as e:
            print(f"FAIL schema {name}: {e}")
            failed += 1
    if not any(n.startswith("events/") for n in schemas):
        print("FAIL no event schemas under", os.path.join(SCHEMA_DIR, "events"))
        failed += 1
    for what, why in check_event_schemas(schemas):
        if why is None:
            passed += 1
        else:
            print(f"FAIL {what}: {why}")
            failed += 1
    by_id = {s["$id"]: s for s in schemas.values() if isinstance(s, dict) and "$id" in s}
    factory = make_validator_factory(by_id)
    validator_of = {}

    fixture_files = 0
    for name, path in walk(FIXTURE_DIR):
        fixture_files += 1
        if name not in schemas:
            print(f"FAIL {name}: fixture file without a schema")
            failed += 1
            continue
        if name not in validator_of:
            validator_of[name] = factory(schemas[name])
        v = validator_of[name]
        for case in load_json(path):
            errors = list(v.iter_errors(case["doc"]))
            if (not errors) == case["valid"]:
                passed += 1
                continue
            failed += 1
            why = "; ".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])
            print(f"FAIL {name} / {case['name']}: expected {'valid' if case['valid'] else 'invalid'},"
                  f" got {'valid' if not errors else 'invalid (' + why + ')'}")
    if fixture_files == 0:
        print("FAIL no fixtures found under", FIXTURE_DIR)
        failed += 1
    p, f = replay_corpus(schemas, factory)
    passed += p
    failed += f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
