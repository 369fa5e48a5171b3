"""HTTPS to the gateway with Python's standard library: with the member's client certificate
(no API token) a notarize succeeds; without one the TLS handshake is refused.

Usage: tls_client.py BASE_URL SERVER_CA CLIENT_CERT CLIENT_KEY ALGORITHM AUDITOR_CERT AUDITOR_KEY

An auditor's certificate of the same CA is refused with 403 role-not-allowed.
"""

import json
import os
import ssl
import sys
import urllib.error
import urllib.request

base, server_ca, certificate, key, algorithm, auditor_certificate, auditor_key = sys.argv[1:8]

with_certificate = ssl.create_default_context(cafile=server_ca)
with_certificate.load_cert_chain(certificate, key)
body = json.dumps({"documents": [{
    "kind": "completion-drawing", "project_id": "P-TLS", "document_id": "TLS-1",
    "digest": algorithm + ":" + os.urandom(32).hex(),
}]}).encode()
request = urllib.request.Request(base + "/v1/documents", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, context=with_certificate, timeout=60) as response:
    answer = json.loads(response.read())
    assert response.status == 200 and answer["documents"][0]["version"] == 1, answer

as_auditor = ssl.create_default_context(cafile=server_ca)
as_auditor.load_cert_chain(auditor_certificate, auditor_key)
try:
    urllib.request.urlopen(request, context=as_auditor, timeout=60).read()
except urllib.error.HTTPError as error:
    problem = json.loads(error.read())
    assert error.code == 403 and problem["code"] == "role-not-allowed", problem
else:
    raise AssertionError("an auditor's certificate filed through the gateway")

without_certificate = ssl.create_default_context(cafile=server_ca)
try:
    urllib.request.urlopen(base + "/v1/health", context=without_certificate, timeout=60).read()
except (ssl.SSLError, urllib.error.URLError, ConnectionError) as error:
    print("refused without a certificate:", error)
else:
    raise AssertionError("a caller without a certificate was served")

print("notarized over HTTPS with a client certificate")
