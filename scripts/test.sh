#!/usr/bin/env bash
# The test command: installs any missing system package, then runs every test of the workspace
# and of the court's pages (web/).
# Property tests run a bounded number of cases by default (what CI runs); the long form sets
# PROPTEST_CASES, e.g. `PROPTEST_CASES=5000 scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-system-deps.sh
# The court's pages first (a minute or two): the TypeScript verifier on every golden vector,
# then the page in headless Chromium. SKIP_WEB_TESTS=1 leaves them out.
if [ "${SKIP_WEB_TESTS:-0}" != "1" ]; then
  scripts/test-web.sh
fi
cargo test --workspace "$@"
