#!/usr/bin/env bash
# The test command: installs any missing system package, then runs every test of the workspace.
# Long property and simulation runs take their case counts from the environment
# (PROPTEST_CASES); CI runs the bounded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-system-deps.sh
cargo test --workspace "$@"
