#!/usr/bin/env bash
# The test command: installs any missing system package, then runs every test of the workspace.
# Property tests run a bounded number of cases by default (what CI runs); the long form sets
# PROPTEST_CASES, e.g. `PROPTEST_CASES=5000 scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-system-deps.sh
cargo test --workspace "$@"
