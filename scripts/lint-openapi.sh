#!/usr/bin/env bash
# Lints the API's OpenAPI document (internal/api/openapi.json) with Redocly
# CLI's recommended rules (scripts/openapi-lint/redocly.yaml). Redocly comes
# from npm at the version pinned in scripts/openapi-lint/package-lock.json
# (installed with `npm ci`, checked against the lock file's sha512) into
# scripts/openapi-lint/node_modules, once. Needs Node.js 20.19+ or 22.12+.
# Any error fails; warnings are printed.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=scripts/openapi-lint
redocly=$dir/node_modules/.bin/redocly
if ! command -v npm >/dev/null 2>&1; then
  echo "lint-openapi: npm is not installed; install Node.js 20.19+ (apt-get install nodejs npm)" >&2
  exit 1
fi
want=$(node -p "require('./$dir/package-lock.json').packages['node_modules/@redocly/cli'].version")
have=$( [ -x "$redocly" ] && node -p "require('./$dir/node_modules/@redocly/cli/package.json').version" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  echo "lint-openapi: installing @redocly/cli@$want"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
# No telemetry from CI, and no nagging about newer versions (the pin is
# deliberate).
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
exec "$redocly" lint --config "$dir/redocly.yaml" --format stylish internal/api/openapi.json
