#!/usr/bin/env bash
# Installs what the test suite needs beyond Go, from Debian's packages:
#   - a headless Chromium (and Japanese fonts, so screenshots of the console
#     show kanji, not boxes) for the console's browser tests;
#   - SoftHSM2, the software PKCS#11 token that stands in for a smart card in
#     the CLI login tests;
#   - NSS's tools (certutil, pk12util) and openssl, which put a test client
#     certificate into the browser's certificate store for the console's
#     smart-card login test;
#   - an S3 server with Object Lock for the backup tests (versitygw, built
#     with go install by scripts/s3server.sh and started on 127.0.0.1:7070);
#   - OpenStack Keystone (scripts/keystone.sh installs, sets up and starts
#     it on 127.0.0.1:35357) for the OpenStack driver's tests;
#   - curl and jq, which the README's commands use (its doc test runs them);
#   - and, built with Go rather than from Debian, mailpit: a real SMTP server
#     the e-mail notification tests send to and read back (smtpserver.sh).
# Safe to run again: it installs only what is missing.
set -euo pipefail

# axe-core for the console's accessibility tests, from the npm registry.
"$(dirname "$0")/install-axe.sh"

browsers=(chromium chromium-browser google-chrome google-chrome-stable)

have_browser() {
  for b in "${browsers[@]}"; do
    if path=$(command -v "$b" 2>/dev/null); then
      echo "install-test-deps: browser found: $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
      return 0
    fi
  done
  return 1
}

# softhsm_module prints the SoftHSM2 PKCS#11 module's path, if installed.
softhsm_module() {
  for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
    if [ -f "$m" ]; then
      echo "$m"
      return 0
    fi
  done
  return 1
}

# The backup tests' S3 server: installed and started unless one answers.
"$(dirname "$0")/s3server.sh"
"$(dirname "$0")/smtpserver.sh"
# The OpenStack driver's Keystone, likewise.
"$(dirname "$0")/keystone.sh" >/dev/null

missing=()
have_browser || missing+=(chromium fonts-noto-cjk)
if m=$(softhsm_module) && command -v softhsm2-util >/dev/null 2>&1; then
  echo "install-test-deps: SoftHSM2 found: $m"
else
  missing+=(softhsm2)
fi
command -v pk12util >/dev/null 2>&1 && command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The README's doc test (cmd/hatoba/readme_test.go) runs its curl and jq.
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v jq >/dev/null 2>&1 || missing+=(jq)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-test-deps: installing ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: apt-get is not available; install ${missing[*]} yourself" >&2
  exit 1
fi

# Use sudo only when it is needed and there is one.
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-test-deps: not root and no sudo; run as root or install ${missing[*]} yourself" >&2
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
if ! run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; then
  echo "install-test-deps: installing ${missing[*]} failed; see apt-get's output above" >&2
  exit 1
fi

have_browser || { echo "install-test-deps: apt-get reported success but no chromium binary is on PATH" >&2; exit 1; }
m=$(softhsm_module) || { echo "install-test-deps: apt-get reported success but libsofthsm2.so was not found" >&2; exit 1; }
echo "install-test-deps: SoftHSM2: $m"
command -v pk12util >/dev/null 2>&1 || { echo "install-test-deps: apt-get reported success but pk12util is not on PATH" >&2; exit 1; }
echo "install-test-deps: NSS tools: $(command -v pk12util)"
