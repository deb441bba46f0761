#!/usr/bin/env python3
"""Writes wire/schema/messages.json: the layout of every Kafka request (and of the consumer
protocol's embedded messages) as Kafka's own message definitions give it, reduced to what a
bounds check needs (field types, versions, tags; no names or docs).

Usage: python3 wire/schema/generate.py path/to/kafka-clients-<version>.jar
(the jar holds the definitions as common/message/*.json; `bash compat/reference-kafka.sh lib`
prints the directory that holds it). Run it again when the kafka-protocol crate moves to a newer
Kafka, and commit the result.
"""
import json
import re
import sys
import zipfile

MAX_VERSION = 32767
# Messages outside the requests that the broker decodes from client bytes.
EMBEDDED = ["ConsumerProtocolSubscription", "ConsumerProtocolAssignment"]


def parse_versions(text):
    """'3+', '1-4', '2' or 'none' as [min, max]; none is the empty range [1, 0]."""
    if text is None or text == "none":
        return [1, 0]
    if text.endswith("+"):
        return [int(text[:-1]), MAX_VERSION]
    if "-" in text:
        low, high = text.split("-")
        return [int(low), int(high)]
    return [int(text), int(text)]


def load(text):
    return json.loads("\n".join(l for l in text.splitlines() if not l.strip().startswith("//")))


def reduce_fields(fields, common):
    out = []
    for field in fields:
        kind = field["type"]
        element = kind[2:] if kind.startswith("[]") else kind
        nested = field.get("fields")
        if nested is None and element in common:
            nested = common[element]
        entry = {"t": kind if nested is None else ("[]" if kind.startswith("[]") else "") + "struct",
                 "v": parse_versions(field["versions"])}
        if nested is not None and not kind.startswith("[]") and "nullableVersions" in field:
            # A nullable struct is preceded by an INT8 marker: -1 for null.
            entry["nv"] = parse_versions(field["nullableVersions"])
        if "tag" in field:
            entry["tag"] = field["tag"]
            entry["tv"] = parse_versions(field["taggedVersions"])
        if nested is not None:
            entry["f"] = reduce_fields(nested, common)
        out.append(entry)
    return out


def reduce_message(message):
    common = {c["name"]: c["fields"] for c in message.get("commonStructs", [])}
    return {
        "valid": parse_versions(message["validVersions"]),
        "flexible": parse_versions(message.get("flexibleVersions")),
        "f": reduce_fields(message.get("fields", []), common),
    }


def main():
    jar = zipfile.ZipFile(sys.argv[1])
    version = re.search(r"kafka-clients-([^/]+)\.jar$", sys.argv[1])
    requests, embedded = {}, {}
    for name in sorted(jar.namelist()):
        if not (name.startswith("common/message/") and name.endswith(".json")):
            continue
        message = load(jar.read(name).decode())
        if message.get("type") == "request":
            requests[str(message["apiKey"])] = reduce_message(message)
        elif message["name"] in EMBEDDED:
            embedded[message["name"]] = reduce_message(message)
    out = {"kafka": version.group(1) if version else "unknown", "requests": requests, "embedded": embedded}
    with open(__file__.replace("generate.py", "messages.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
