#!/usr/bin/env bash
# Installs and starts the S3 server the backup tests and CI write to:
# versitygw (Versity's S3 gateway, Apache 2.0) on its POSIX backend, with
# versioning — and so Object Lock — enabled, on 127.0.0.1:7070, keeping its
# data under /var/tmp/hatoba-s3. The credentials are fixed test values; the
# tests read the same ones (internal/backup/s3test_test.go).
#
# Safe to run again: it installs only when versitygw is missing and starts
# the server only when nothing answers on the port. It prints the endpoint.
#
#   HATOBA_S3_PORT  the port (default 7070)
#   HATOBA_S3_DIR   the data directory (default /var/tmp/hatoba-s3)
set -euo pipefail

version=v1.8.0
port=${HATOBA_S3_PORT:-7070}
dir=${HATOBA_S3_DIR:-/var/tmp/hatoba-s3}
access=hatoba-test
secret=hatoba-test-secret-key-0123456789
endpoint="http://127.0.0.1:$port"

listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

if listening; then
  echo "s3server: an S3 server already answers at $endpoint"
  echo "$endpoint"
  exit 0
fi

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
bin=$(command -v versitygw 2>/dev/null || true)
[ -n "$bin" ] || { [ -x "$gobin/versitygw" ] && bin="$gobin/versitygw"; } || true
# go install stamps no version into --version; the module line says it.
if [ -z "$bin" ] || ! go version -m "$bin" 2>/dev/null | grep -q "versity/versitygw[[:space:]]*$version"; then
  echo "s3server: installing versitygw $version (go install; a few minutes the first time)"
  go install "github.com/versity/versitygw/cmd/versitygw@$version"
  bin="$gobin/versitygw"
fi

mkdir -p "$dir/root" "$dir/versions"
# versitygw keeps object metadata (lock retention among it) in extended
# attributes: the data directory's filesystem must support them.
if command -v setfattr >/dev/null 2>&1 && ! setfattr -n user.hatoba -v 1 "$dir/root" 2>/dev/null; then
  echo "s3server: $dir does not support extended attributes; set HATOBA_S3_DIR to a directory on ext4, xfs or btrfs" >&2
  exit 1
fi

echo "s3server: starting versitygw on $endpoint (data in $dir, log $dir/versitygw.log)"
ROOT_ACCESS_KEY_ID=$access ROOT_SECRET_ACCESS_KEY=$secret \
  setsid nohup "$bin" --port "127.0.0.1:$port" --quiet --region us-east-1 \
  posix --versioning-dir "$dir/versions" "$dir/root" >"$dir/versitygw.log" 2>&1 </dev/null &
echo $! >"$dir/versitygw.pid"

for _ in $(seq 1 100); do
  if listening; then
    echo "$endpoint"
    exit 0
  fi
  sleep 0.1
done
echo "s3server: versitygw did not start listening on $endpoint; see $dir/versitygw.log:" >&2
tail -20 "$dir/versitygw.log" >&2 || true
exit 1
