"""A client of the filing gateway that knows nothing but its OpenAPI document.

Usage: openapi_client.py BASE_URL TOKEN

It reads /openapi.json, finds each operation by its operationId, builds every request from
the document (method, path template, parameters, body media type) and checks every answer
against the document's response schema for its status. Python's standard library only: a
filing system in another language needs no more than HTTP and JSON.
"""

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE, TOKEN = sys.argv[1].rstrip("/"), sys.argv[2]


def fetch(method, url, headers=None, body=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


status, _, raw = fetch("GET", BASE + "/openapi.json")
assert status == 200, status
DOC = json.loads(raw)
assert DOC["openapi"].startswith("3."), DOC["openapi"]

OPERATIONS = {}
for path, item in DOC["paths"].items():
    for method, operation in item.items():
        OPERATIONS[operation["operationId"]] = (method.upper(), path, operation)


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = DOC
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def check(value, schema, where):
    """Checks value against the subset of JSON Schema the document uses."""
    schema = resolve(schema)
    if "oneOf" in schema:
        errors = []
        for option in schema["oneOf"]:
            try:
                check(value, option, where)
                return
            except AssertionError as error:
                errors.append(str(error))
        raise AssertionError(f"{where}: matches no option: {errors}")
    if "const" in schema:
        assert value == schema["const"], f"{where}: {value!r} is not {schema['const']!r}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        python = {
            "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
        }
        ok = any(
            (kind == "integer" and isinstance(value, int) and not isinstance(value, bool))
            or (kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool))
            or (kind in python and isinstance(value, python[kind]))
            for kind in kinds
        )
        assert ok, f"{where}: {value!r} is not {kinds}"
    if isinstance(value, str) and "pattern" in schema:
        assert re.search(schema["pattern"], value), f"{where}: {value!r} !~ {schema['pattern']}"
    if isinstance(value, dict):
        for name in schema.get("required", []):
            assert name in value, f"{where}: {name} is missing"
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                check(value[name], sub, f"{where}.{name}")
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(schema.get("properties", {}))
            assert not extra, f"{where}: unexpected {extra}"
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check(item, schema["items"], f"{where}[{i}]")


def call(operation_id, path_params=None, query=None, headers=None, body=None):
    method, template, operation = OPERATIONS[operation_id]
    path_params, query, headers = path_params or {}, query or {}, dict(headers or {})
    known = {}
    for parameter in operation.get("parameters", []):
        parameter = resolve(parameter)
        known[(parameter["in"], parameter["name"].lower())] = parameter
        if parameter.get("required"):
            given = {"path": path_params, "query": query, "header": headers}[parameter["in"]]
            assert parameter["name"] in given, f"{operation_id}: {parameter['name']} is required"
    for name in query:
        assert ("query", name) in known, f"{operation_id}: no query parameter {name}"
    for name in path_params:
        assert ("path", name) in known, f"{operation_id}: no path parameter {name}"
    path = template
    for name, value in path_params.items():
        path = path.replace("{" + name + "}", urllib.parse.quote(str(value), safe=""))
    url = BASE + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    if operation.get("security", DOC.get("security")):
        headers["Authorization"] = "Bearer " + TOKEN
    data = None
    if body is not None:
        media = next(iter(operation["requestBody"]["content"]))
        headers["Content-Type"] = media
        if media == "multipart/form-data":
            headers["Content-Type"] = f"{media}; boundary={MULTIPART_BOUNDARY}"
            data = body
        elif media == "application/json":
            check(body, operation["requestBody"]["content"][media]["schema"], operation_id + " request")
            data = json.dumps(body).encode()
        else:
            data = body
    status, response_headers, raw = fetch(method, url, headers, data)
    response = resolve(operation["responses"].get(str(status)) or {})
    assert response, f"{operation_id}: status {status} is not in the document: {raw[:300]!r}"
    media = (response_headers.get("Content-Type") or "").split(";")[0].strip()
    assert media in response.get("content", {}), f"{operation_id}: {status} as {media}"
    value = raw.decode("utf-8") if media.startswith("text/") else json.loads(raw)
    check(value, response["content"][media]["schema"], f"{operation_id} {status}")
    return status, response_headers, value


# The gateway and its node.
status, _, health = call("health")
assert status == 200 and health["member"], health

# What a court takes away: the genesis file and the web verifier, no token needed.
status, _, genesis = call("getGenesis")
assert status == 200 and genesis["chain_id"] == health["chain_id"], (genesis, health)
status, _, page = call("getVerifierPage")
assert status == 200 and "connect-src 'none'" in page, page[:300]
status, _, view = call("getProjectPage", path_params={"project_id": "P-PY"})
assert status == 200 and "connect-src 'self'" in view, view[:300]

# Upload a document: its bytes are the body; it is hashed on the way and never stored.
document_id = "PY-" + os.urandom(4).hex()
status, _, uploaded = call(
    "notarizeUpload",
    query={"kind": "completion-drawing", "project_id": "P-PY", "document_id": document_id},
    body=b"a drawing from a Python client",
)
assert status == 200 and uploaded["version"] == 1, uploaded
algorithm = uploaded["digest"].split(":")[0]

# Fetch its receipt again by the URL parts the document describes.
status, _, receipt = call(
    "getReceipt",
    path_params={"project_id": "P-PY", "document_id": document_id, "version": 1},
)
assert status == 200 and receipt == uploaded["receipt"]

# Verify it against its digest, and against another.
status, _, verdict = call("verify", body={"receipt": receipt, "digest": uploaded["digest"]})
assert status == 200 and verdict["valid"] is True, verdict
other = algorithm + ":" + os.urandom(32).hex()
status, _, verdict = call("verify", body={"receipt": receipt, "digest": other})
assert status == 200 and verdict["valid"] is False and verdict["code"] == "digest-mismatch"

# Verify the file itself against its receipt: multipart, the receipt first.
boundary = "openapi-client-" + os.urandom(8).hex()
parts = b""
for name, media, content in [
    ("receipt", "application/json", json.dumps(receipt).encode()),
    ("file", "application/octet-stream", b"a drawing from a Python client"),
]:
    parts += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n"
              f"Content-Type: {media}\r\n\r\n").encode() + content + b"\r\n"
parts += f"--{boundary}--\r\n".encode()
MULTIPART_BOUNDARY = boundary
status, _, verdict = call("verifyUpload", body=parts)
assert status == 200 and verdict["valid"] is True, verdict

# Notarize by digest, twice under one Idempotency-Key: the second answer is the first, replayed.
request = {"documents": [{
    "kind": "completion-drawing", "project_id": "P-PY", "document_id": document_id + "-B",
    "digest": algorithm + ":" + os.urandom(32).hex(),
}]}
key = {"Idempotency-Key": "py-" + os.urandom(8).hex()}
status, first_headers, first = call("notarize", headers=key, body=request)
assert status == 200 and "Idempotent-Replayed" not in first_headers
status, again_headers, again = call("notarize", headers=key, body=request)
assert status == 200 and again_headers.get("Idempotent-Replayed") == "true", again_headers
assert again == first, (json.dumps(first)[:2000], json.dumps(again)[:2000])

# Status, proved; a lookup; a project's payments.
status, _, proved = call("getStatus", path_params={"project_id": "P-PY", "document_id": document_id})
assert status == 200 and proved["filed"] and proved["version"]["status"] == "current", proved
status, _, found = call("lookup", query={"project_id": "P-PY", "document_id": document_id})
assert status == 200 and len(found["results"]) == 1
status, _, payments = call("getPayments", path_params={"project_id": "P-PY"})
assert status == 200 and payments["registered"] is False

# A problem, as the document describes it.
status, _, problem = call("notarize", body={"documents": [{
    "kind": "fund-transfer", "project_id": "P-PY", "document_id": "PAY",
    "digest": algorithm + ":" + os.urandom(32).hex(),
    "claim": {"type": "payment", "milestone": "M1", "amount_minor": 1},
}]})
assert status == 403 and problem["code"] == "kind-not-allowed-for-member", problem

# The alerts feed (payment alerts this gateway followed from its node).
status, _, feed = call("listAlerts", query={"limit": 10})
assert status == 200 and isinstance(feed["alerts"], list), feed

print("the OpenAPI client notarized, fetched, verified and proved status")
