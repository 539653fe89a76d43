#!/usr/bin/env bash
# The linters CI runs (make lint, from scripts/test.sh):
#   1. golangci-lint with .golangci.yaml, at the version pinned below,
#      installed with `go install` into .tools/ once;
#   2. the OpenAPI document with Redocly's recommended rules
#      (scripts/lint-openapi.sh);
#   3. the generated API client is what its generator makes of the document
#      today (go generate ./internal/api/apiclient changes nothing).
set -euo pipefail
cd "$(dirname "$0")/.."

GOLANGCI_LINT_VERSION=v2.15.0
bin=.tools/golangci-lint-$GOLANGCI_LINT_VERSION/golangci-lint
if [ ! -x "$bin" ]; then
  echo "lint: installing golangci-lint $GOLANGCI_LINT_VERSION"
  GOBIN="$PWD/$(dirname "$bin")" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
fi

echo "== golangci-lint"
"$bin" run ./...

echo "== OpenAPI document"
./scripts/lint-openapi.sh

echo "== generated API client"
go generate ./internal/api/apiclient
if ! git diff --quiet -- internal/api/apiclient; then
  git --no-pager diff --stat -- internal/api/apiclient >&2
  echo "lint: internal/api/apiclient is not what openapi.json generates; run go generate ./internal/api/apiclient and commit it" >&2
  exit 1
fi
