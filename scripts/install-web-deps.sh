#!/usr/bin/env bash
# Installs what the court's pages (web/) need to build and to be tested, when missing: Node.js
# and npm, Debian's Chromium (the tests drive it headless), poppler-utils (pdftoppm renders the
# printed certificate back to an image) and a CJK font (so Chinese text renders in screenshots
# and PDFs); then the npm packages, exactly as web/package-lock.json pins them (`npm ci`).
# Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${1:-}" != "--build-only" ]; then
  command -v "${CHROMIUM:-chromium}" >/dev/null 2>&1 || missing+=(chromium)
  command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
  # fc-list is fontconfig's; chromium without recommends does not bring it.
  command -v fc-list >/dev/null 2>&1 || missing+=(fontconfig)
  fc-list 2>/dev/null | grep -qi "wqy\|noto sans cjk\|source han" || missing+=(fonts-wqy-microhei)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "web packages: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
  fi
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "web packages: all present"
fi

# The pinned packages need Node.js 20.19 or later (playwright-core, @noble/*).
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "web packages: Node.js $(node --version) is too old: the pinned packages (web/package-lock.json)" \
       "need 20.19 or later. Debian 13's nodejs package is 20.19; on Debian 12, install Node.js 20" \
       "from nodejs.org or NodeSource, then run this again." >&2
  exit 1
fi

# npm ci from the lockfile, skipped when node_modules already matches it.
stamp=web/node_modules/.lock-stamp
want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  (cd web && npm ci --no-audit --no-fund)
  echo "$want" > "$stamp"
fi
