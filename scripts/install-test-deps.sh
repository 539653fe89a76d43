#!/usr/bin/env bash
# Installs what the test suite needs beyond Go: a headless Chromium (and
# Japanese fonts, so screenshots of the console show kanji, not boxes) for the
# console's browser tests. Safe to run again: it does nothing when a browser
# is already on PATH.
set -euo pipefail

browsers=(chromium chromium-browser google-chrome google-chrome-stable)

for b in "${browsers[@]}"; do
  if path=$(command -v "$b" 2>/dev/null); then
    echo "install-test-deps: browser found: $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
  fi
done

echo "install-test-deps: no Chromium or Chrome on PATH; installing Debian's chromium and fonts-noto-cjk"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: apt-get is not available; install Chromium (or Chrome) yourself and put it on PATH" >&2
  exit 1
fi

# Use sudo only when it is needed and there is one.
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-test-deps: not root and no sudo; run as root or install chromium yourself" >&2
    exit 1
  fi
fi

run() {
  echo "+ $*"
  "$@"
}

if ! run "${sudo[@]}" apt-get update; then
  echo "install-test-deps: apt-get update failed; check the network or the apt sources" >&2
  exit 1
fi
if ! run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-noto-cjk; then
  echo "install-test-deps: installing chromium failed; see apt-get's output above" >&2
  exit 1
fi

for b in "${browsers[@]}"; do
  if path=$(command -v "$b" 2>/dev/null); then
    echo "install-test-deps: installed $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
  fi
done
echo "install-test-deps: apt-get reported success but no chromium binary is on PATH" >&2
exit 1
