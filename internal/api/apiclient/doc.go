// Package apiclient is a Go client for hatoba's API, generated from
// internal/api/openapi.json by oapi-codegen and nothing else: the proof that
// others can build on the API from its document alone. A test runs a real
// flow through it (internal/api/client_test.go). Regenerate it after a
// change to the document with
//
//	go generate ./internal/api/apiclient
//
// No production code imports it.
package apiclient

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml ../openapi.json
