#!/usr/bin/env python3
"""The fuzz corpus as inputs (bytes): every "doc" of the schema fixtures and
every line of tests/fuzz/corpus.hex.

  seeds.py DIR   writes each input to DIR/seedNNNNN (for libFuzzer)
Imported by tests/schema_crosscheck.py, which replays the same inputs.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE_DIR = os.path.join(HERE, "..", "fixtures", "schema")
CORPUS_HEX = os.path.join(HERE, "corpus.hex")


def fixture_docs():
    for dirpath, dirnames, files in os.walk(FIXTURE_DIR):
        dirnames.sort()
        for fn in sorted(files):
            if not fn.endswith(".json"):
                continue
            with open(os.path.join(dirpath, fn), encoding="utf-8") as f:
                for case in json.load(f):
                    yield json.dumps(case["doc"], ensure_ascii=False).encode("utf-8")


def corpus_hex(path=CORPUS_HEX):
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("#"):
                yield bytes.fromhex(line)


def inputs():
    yield from fixture_docs()
    yield from corpus_hex()


def main():
    dst = sys.argv[1]
    n = 0
    for data in inputs():
        with open(os.path.join(dst, f"seed{n:05d}"), "wb") as out:
            out.write(data)
        n += 1
    print(f"{n} seeds")


if __name__ == "__main__":
    main()
