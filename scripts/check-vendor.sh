#!/usr/bin/env bash
# Proves that each crate under vendor/ is exactly its published release plus the patch kept
# beside it: downloads the release from crates.io, checks its SHA-256 against the one recorded
# here (the checksum Cargo.lock held before the crate was patched), applies the patch and
# compares the result with the vendored tree, file by file. See vendor/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# name version sha256
CRATES=(
  "arc-malachitebft-network 0.8.2 9f95cdadf48bedd9ee16d76d8f8db05abda4a3824b296e907c10bd57c33dab70"
  "libp2p-scatter 0.3.0 ea402c419f99e6013d5b12f97c5a1a1abe4aca285844b01b0ed96deab11f0b6e"
  "curve25519-dalek 4.1.3 97fb8b7c4503de7d6ae7b42ab72a5a59857b4c937ec27a3d4539dba95b5ab2be"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for entry in "${CRATES[@]}"; do
  read -r name version sum <<<"$entry"
  crate="$work/$name-$version.crate"
  curl -sSfL --retry 3 -o "$crate" "https://static.crates.io/crates/$name/$version/download"
  echo "$sum  $crate" | sha256sum --check --quiet
  tar -xzf "$crate" -C "$work"
  base="$work/$name-$version"
  # What cargo itself writes when it unpacks a crate, and nothing the build reads.
  rm -f "$base/.cargo-ok" "$base/Cargo.lock"
  (cd "$base" && patch -p1 --quiet --no-backup-if-mismatch <"$OLDPWD/vendor/$name.patch")
  if ! diff -r "$base" "vendor/$name"; then
    echo "vendor/$name is not $name $version from crates.io with vendor/$name.patch applied" >&2
    exit 1
  fi
  echo "vendor/$name = $name $version (sha256 $sum) + vendor/$name.patch"
done
