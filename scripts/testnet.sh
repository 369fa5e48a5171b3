#!/usr/bin/env bash
# Runs the local four-member testnet: installs any missing system package, builds the node,
# the testnet tool and the `evidence` CLI (one dev build, dependencies optimised), then runs
# `evidence-testnet` with the arguments given (default: `up`).
#
#   scripts/testnet.sh                  # create ./testnet-data (or reuse it) and run it
#   scripts/testnet.sh up --dir DIR     # another directory
#   scripts/testnet.sh demo             # a fresh network through the whole flow, then exit
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-system-deps.sh
cargo build -p evidence-node -p evidence-testnet -p evidence-client -p evidence-gateway --bins
target_dir="${CARGO_TARGET_DIR:-target}"
if [ "$#" -eq 0 ]; then
  set -- up
fi
echo "The evidence CLI is at ${target_dir}/debug/evidence"
exec "${target_dir}/debug/evidence-testnet" "$@"
