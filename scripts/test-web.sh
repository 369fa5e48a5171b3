#!/usr/bin/env bash
# The court's pages' tests: the TypeScript verifier on every golden vector in Node, the
# certificate code's reader on good and malformed data, then the
# built page in real headless Chromium (every vector through the page, tampering, the worker,
# the certificate printed to PDF and its QR code scanned back, no network request).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-web-deps.sh
(cd web && npx tsc --noEmit -p . && node build.mjs --check)
node web/test/vectors.mjs
node web/test/payload.mjs
node web/test/browser.mjs "$@"
