#!/usr/bin/env bash
# Installs and starts a real SMTP server for the notification tests:
# mailpit (github.com/axllent/mailpit), which receives mail on
# 127.0.0.1:1025 and shows what it received through an HTTP API on
# 127.0.0.1:8025 (GET /api/v1/messages). The e-mail channel's tests send
# through it with net/smtp and read the message back from the API.
# Safe to run again: it installs only when missing and starts only when
# nothing answers on the API port.
set -euo pipefail

version=v1.33.1
smtp_addr=${HATOBA_TEST_SMTP_ADDR:-127.0.0.1:1025}
api_addr=${HATOBA_TEST_SMTP_API:-127.0.0.1:8025}

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
mailpit="$gobin/mailpit"

# go install leaves "dev" as mailpit's own version; the module version is
# in the binary's build information.
if [ ! -x "$mailpit" ] || ! go version -m "$mailpit" 2>/dev/null | grep -q "github.com/axllent/mailpit[[:space:]]*$version"; then
  echo "smtpserver: installing mailpit $version"
  GOFLAGS=-mod=mod go install "github.com/axllent/mailpit@$version"
fi

if curl -fsS "http://$api_addr/api/v1/info" >/dev/null 2>&1; then
  echo "smtpserver: mailpit already answers on http://$api_addr (SMTP $smtp_addr)"
  exit 0
fi

log=${TMPDIR:-/tmp}/hatoba-mailpit.log
echo "smtpserver: starting mailpit (SMTP $smtp_addr, API http://$api_addr, log $log)"
# Mail goes to a temporary database, removed when mailpit stops; any AUTH
# is accepted, as tests use no credentials worth checking.
nohup "$mailpit" --smtp "$smtp_addr" --listen "$api_addr" --database "" \
  --smtp-auth-accept-any --smtp-auth-allow-insecure --max 5000 >"$log" 2>&1 &
for _ in $(seq 1 50); do
  if curl -fsS "http://$api_addr/api/v1/info" >/dev/null 2>&1; then
    echo "smtpserver: mailpit is up"
    exit 0
  fi
  sleep 0.2
done
echo "smtpserver: mailpit did not start; see $log" >&2
tail -20 "$log" >&2 || true
exit 1
