.DEFAULT_GOAL := help

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

run: ## run hatoba with the embedded defaults
	go run ./cmd/hatoba serve

test: ## run the whole test suite (as CI does)
	./scripts/test.sh

lint: ## golangci-lint, the OpenAPI document's lint, the generated client's freshness (as CI does)
	./scripts/lint.sh

golden: ## rewrite the API's golden responses (internal/api/testdata/golden)
	go test ./internal/api -run TestGoldenResponses -update

generate: ## regenerate the API client from openapi.json
	go generate ./internal/api/apiclient

cli-docs: ## rewrite the command line's reference (docs/cli) from the command tree
	HATOBA_UPDATE_CLI_DOCS=1 go test ./cmd/hatoba -run TestCLIDocsCurrent

test-short: ## unit tests only, no process or browser tests
	go test -short ./...

bench: ## vend 6,000 environments on SQLite and PostgreSQL
	go run ./bench/vend

tokens: ## rebuild the console's design-token CSS from npm
	./scripts/build-tokens.sh

build: ## build ./hatoba
	go build -o hatoba ./cmd/hatoba

.PHONY: help run test lint golden generate cli-docs test-short bench tokens build
