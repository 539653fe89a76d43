#!/usr/bin/env bash
# Fetches axe-core, the accessibility engine the console's browser tests
# inject into every page (internal/browsertest/axe.go), from the npm
# registry: one pinned version, checked against the integrity the registry
# published for it, unpacked into internal/browsertest/testdata/axe/ (not
# committed) with its licence (MPL-2.0). Safe to run again: it does nothing
# when that version is there. Needs npm (Debian's package "npm").
set -euo pipefail

version=4.14.1
integrity='sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=='

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/internal/browsertest/testdata/axe"
if [ -f "$dest/axe-$version.min.js" ]; then
  echo "install-axe: axe-core $version found: $dest/axe-$version.min.js"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-axe: npm is not installed (apt-get install npm); the accessibility tests need axe-core $version" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "axe-core@$version" >/dev/null)
tgz="$tmp/axe-core-$version.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$integrity" ]; then
  echo "install-axe: axe-core-$version.tgz has integrity $got, not the pinned $integrity; refusing it" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/axe.min.js package/LICENSE
mkdir -p "$dest"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
cp "$tmp/package/axe.min.js" "$dest/axe-$version.min.js.part"
mv "$dest/axe-$version.min.js.part" "$dest/axe-$version.min.js"
echo "install-axe: axe-core $version installed: $dest/axe-$version.min.js"
