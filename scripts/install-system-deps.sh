#!/usr/bin/env bash
# Installs the system packages the build needs, if they are missing. Safe to run repeatedly.
#
# Today the workspace needs only a Rust toolchain and a C compiler (for BLAKE3's assembly).
# The node's RocksDB bindings will also need libclang; this script is where that goes.
set -euo pipefail

missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

echo "system packages: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
"${sudo_cmd[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
