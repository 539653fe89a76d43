#!/usr/bin/env bash
# The whole test suite, as CI runs it: both databases, the simulated cloud,
# the crash and replica tests, and the headless-browser test of the console.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-test-deps.sh

# The storage and queue tests run against SQLite and PostgreSQL, the
# console's tests drive the Chromium installed above, the backup tests
# write to the S3 server, the e-mail notification tests send through the
# mailpit and the OpenStack driver's tests use the Keystone started above;
# under this script a missing PostgreSQL, browser, S3 server, SMTP server or
# Keystone fails the run instead of skipping its tests.
export HATOBA_REQUIRE_POSTGRES=1 HATOBA_REQUIRE_BROWSER=1 HATOBA_REQUIRE_S3=1 HATOBA_REQUIRE_SMTP=1 HATOBA_REQUIRE_KEYSTONE=1
pg_url=${HATOBA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
if command -v pg_isready >/dev/null && ! pg_isready -q -d "$pg_url"; then
  if command -v pg_ctlcluster >/dev/null; then
    echo "starting the local PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi

echo "== gofmt"
unformatted=$(gofmt -l cmd internal bench)
if [ -n "$unformatted" ]; then
  echo "these files are not gofmt-formatted (run gofmt -w):" >&2
  echo "$unformatted" >&2
  exit 1
fi
echo "== go vet"
go vet ./...
echo "== lint"
make lint
echo "== go test"
exec go test -race -count=1 -timeout 25m ./...
