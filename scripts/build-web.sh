#!/usr/bin/env bash
# Builds the court's pages into web/dist/ (self-contained HTML files, committed: the filing
# gateway compiles them in). `--check` builds in memory and fails if web/dist/ is out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-web-deps.sh --build-only
cd web
npx tsc --noEmit -p .
node build.mjs "$@"
