.DEFAULT_GOAL := help

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

run: ## run hatoba with the embedded defaults
	go run ./cmd/hatoba serve

test: ## run the whole test suite (as CI does)
	./scripts/test.sh

test-short: ## unit tests only, no process or browser tests
	go test -short ./...

bench: ## vend 6,000 environments on SQLite and PostgreSQL
	go run ./bench/vend

tokens: ## rebuild the console's design-token CSS from npm
	./scripts/build-tokens.sh

build: ## build ./hatoba
	go build -o hatoba ./cmd/hatoba

.PHONY: help run test test-short bench tokens build
