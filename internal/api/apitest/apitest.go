// Package apitest holds the API to its OpenAPI document in tests: every
// request a test sends to /api/v1 and every response it gets back is checked
// against internal/api/openapi.json (kin-openapi's request and response
// validation), and a JSON member the document does not describe is an error,
// so a field added to a handler without its schema fails a test.
//
// The published document leaves objects open (a client must ignore members
// it does not know, so the API can grow); only the tests hold the server to
// describing everything it sends. Imported by tests only (depguard keeps it
// out of production code).
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/hatoba-cloud/hatoba/internal/api"
)

// Prefix is the part of the URL space the document describes.
const Prefix = "/api/v1/"

// Contract is the loaded OpenAPI document and a router over its paths.
type Contract struct {
	doc    *openapi3.T
	router routers.Router
	// rest are the paths ending in a wildcard segment ({name...}, as the
	// route table has it): the part before it.
	rest []string
}

var (
	loadOnce sync.Once
	loaded   *Contract
	loadErr  error
)

func init() {
	// JSON Lines (GET /audit/export): each line one JSON value; the document
	// describes the body as text.
	openapi3filter.RegisterBodyDecoder("application/jsonl", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		data, err := io.ReadAll(body)
		if err != nil {
			return nil, err
		}
		for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			if len(data) > 0 && !json.Valid(line) {
				return nil, fmt.Errorf("line %d is not JSON", i+1)
			}
		}
		return string(data), nil
	})
}

// Load parses and validates api.OpenAPI() once per test binary.
func Load() (*Contract, error) {
	loadOnce.Do(func() { loaded, loadErr = parse(api.OpenAPI()) })
	return loaded, loadErr
}

// MustLoad is Load for a test: a document that does not load fails it.
func MustLoad(tb testing.TB) *Contract {
	tb.Helper()
	c, err := Load()
	if err != nil {
		tb.Fatalf("internal/api/openapi.json: %v", err)
	}
	return c
}

func parse(data []byte) (*Contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	// The tests' servers listen on ephemeral ports, not on the document's
	// servers: route by path alone.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	c := &Contract{doc: doc, router: router}
	for _, p := range doc.Paths.InMatchingOrder() {
		if strings.HasSuffix(p, "...}") {
			c.rest = append(c.rest, p[:strings.LastIndex(p, "{")])
		}
	}
	return c, nil
}

// Doc is the loaded document.
func (c *Contract) Doc() *openapi3.T { return c.doc }

// Check holds one exchange to the document. It returns nil for a URL outside
// Prefix. Otherwise the operation must be documented; a request the
// document refuses must have been refused (4xx); the response's status,
// headers and body must match the operation's response; and every member of
// a JSON body must be described.
func (c *Contract) Check(r *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	if !strings.HasPrefix(r.URL.Path, Prefix) {
		return nil
	}
	op := r.Method + " " + r.URL.Path
	req := r.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		// A wildcard segment takes the rest of the path, slashes and all;
		// OpenAPI's templates match one segment, so hand it over as one.
		for _, prefix := range c.rest {
			if rest, ok := strings.CutPrefix(req.URL.Path, prefix); ok && rest != "" {
				req.URL.Path = prefix + strings.ReplaceAll(rest, "/", "%2F")
				req.URL.RawPath = ""
				route, params, err = c.router.FindRoute(req)
				break
			}
		}
	}
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return nil // refused, as a path or method the document lacks should be
		}
		return fmt.Errorf("%s: no operation in internal/api/openapi.json, yet the server answered %d (%w)", op, status, err)
	}
	op = r.Method + " " + route.Path
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError: true, SkipSettingDefaults: true}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && status < 400 {
		return fmt.Errorf("%s: the document refuses this request, yet the server answered %d:\n%w", op, status, err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s → %d: the response does not match internal/api/openapi.json:\n%w\nbody: %s", op, status, err, clip(body))
	}
	schema, where := responseSchema(route.Operation, status, header.Get("Content-Type"))
	if schema == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil // not JSON; ValidateResponse judged it by its media type
	}
	var missing []string
	undocumented(schema, v, "$", where, &missing)
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("%s → %d: members the document does not describe (add them to internal/api/openapi.json):\n  %s",
			op, status, strings.Join(missing, "\n  "))
	}
	return nil
}

// responseSchema finds the schema of the response with status and
// contentType, and a name for it (its component's name, or where it is).
func responseSchema(op *openapi3.Operation, status int, contentType string) (*openapi3.SchemaRef, string) {
	resp := op.Responses.Status(status)
	where := "response " + strconv.Itoa(status)
	if resp == nil {
		resp, where = op.Responses.Default(), "default response"
	}
	if resp == nil || resp.Value == nil {
		return nil, ""
	}
	if resp.Ref != "" {
		where = path.Base(resp.Ref)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, ""
	}
	media := resp.Value.Content.Get(mt)
	if media == nil || media.Schema == nil {
		return nil, ""
	}
	return media.Schema, where
}

// undocumented appends to missing every member of v that schema does not
// describe, each as its JSON path and the schema it is missing from.
func undocumented(ref *openapi3.SchemaRef, v any, at, name string, missing *[]string) {
	if ref == nil || ref.Value == nil {
		return
	}
	if ref.Ref != "" {
		name = path.Base(ref.Ref)
	}
	s := ref.Value
	if alt := matchingAlternative(s, v); alt != nil {
		undocumented(alt, v, at, name, missing)
	}
	switch v := v.(type) {
	case []any:
		for i, item := range v {
			undocumented(s.Items, item, at+"["+strconv.Itoa(i)+"]", name, missing)
		}
	case map[string]any:
		props := properties(ref)
		if len(props) == 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil &&
			len(s.OneOf) == 0 && len(s.AnyOf) == 0 {
			return // a free-form object, described in prose (an OSCAL document, metadata)
		}
		for k, item := range v {
			member := at + "." + k
			switch p, ok := props[k]; {
			case ok:
				undocumented(p, item, member, name, missing)
			case s.AdditionalProperties.Schema != nil:
				undocumented(s.AdditionalProperties.Schema, item, member, name, missing)
			case s.AdditionalProperties.Has != nil && *s.AdditionalProperties.Has:
			case len(s.OneOf) > 0 || len(s.AnyOf) > 0:
				// judged by the alternative that matched
			default:
				*missing = append(*missing, fmt.Sprintf("%s is not in %s", member, name))
			}
		}
	}
}

// properties are a schema's own properties and those of its allOf members.
func properties(ref *openapi3.SchemaRef) map[string]*openapi3.SchemaRef {
	props := map[string]*openapi3.SchemaRef{}
	for k, p := range ref.Value.Properties {
		props[k] = p
	}
	for _, part := range ref.Value.AllOf {
		if part.Value != nil {
			for k, p := range properties(part) {
				props[k] = p
			}
		}
	}
	return props
}

// matchingAlternative is the first oneOf or anyOf alternative v is valid
// against.
func matchingAlternative(s *openapi3.Schema, v any) *openapi3.SchemaRef {
	for _, alt := range append(append([]*openapi3.SchemaRef{}, s.OneOf...), s.AnyOf...) {
		if alt.Value != nil && alt.Value.VisitJSON(v) == nil {
			return alt
		}
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

// Handler serves next and checks every exchange under Prefix, reporting a
// mismatch as an error of tb before the client sees the response.
func (c *Contract) Handler(tb testing.TB, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, Prefix) {
			next.ServeHTTP(w, r)
			return
		}
		reqBody, err := io.ReadAll(r.Body)
		if err != nil {
			tb.Errorf("%s %s: read the request body: %v", r.Method, r.URL.Path, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if err := c.Check(r, reqBody, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			tb.Errorf("contract: %v", err)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes()) // the client's own read reports a broken connection
	})
}

// Transport checks every exchange under Prefix that goes through base (nil:
// http.DefaultTransport); a mismatch is the round trip's error, so the test
// that made the call fails naming it.
func (c *Contract) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if !strings.HasPrefix(r.URL.Path, Prefix) {
			return base.RoundTrip(r)
		}
		var reqBody []byte
		if r.Body != nil {
			var err error
			if reqBody, err = io.ReadAll(r.Body); err != nil {
				return nil, err
			}
			if err := r.Body.Close(); err != nil {
				return nil, err
			}
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		resp, err := base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		body, readErr := io.ReadAll(resp.Body)
		closeErr := resp.Body.Close()
		if err := errors.Join(readErr, closeErr); err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if err := c.Check(r, reqBody, resp.StatusCode, resp.Header, body); err != nil {
			return nil, fmt.Errorf("contract: %w", err)
		}
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
