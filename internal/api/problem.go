package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/baseline"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/placement"
)

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Field names the offending request field, when one is to blame.
	Field string `json:"field,omitempty"`
	// Errors, an extension member, lists the rows of an organisation
	// import that were refused (POST /organizations/import).
	Errors []org.RowError `json:"errors,omitempty"`
	// InvalidParams, an extension member, lists every invalid field of a
	// refused environment request; Detail and Field describe the first.
	InvalidParams []env.FieldError `json:"invalid_params,omitempty"`
	// Placement, an extension member, says why the placement policy
	// refused a request or a transfer: the classification, the provider
	// and its tier, and each rule broken.
	Placement *PlacementProblem `json:"placement,omitempty"`
	// Findings, an extension member, lists what the scan found in a
	// baseline release it refused.
	Findings []baseline.Finding `json:"findings,omitempty"`
}

// PlacementProblem is a placement refusal in a problem.
type PlacementProblem struct {
	Classification string             `json:"classification"`
	Provider       string             `json:"provider"`
	Tier           string             `json:"tier"`
	Breaches       []placement.Breach `json:"breaches"`
}

// writeError maps err to a problem response, the one place where the API's
// domain errors become HTTP (with fault's one kind → status mapping). Internal errors are logged, and their text — SQL or
// driver messages — is never sent.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	kind := fault.KindOf(err)
	p := Problem{
		Type:     "https://hatoba.dev/problems/" + strings.ReplaceAll(string(kind), "_", "-"),
		Status:   kind.Status(),
		Title:    http.StatusText(kind.Status()),
		Instance: r.URL.Path,
	}
	if fe, ok := fault.As(err); ok && kind != fault.Internal {
		p.Detail, p.Field = fe.Message, fe.Field
		var ve *env.ValidationError
		if errors.As(err, &ve) {
			p.InvalidParams = ve.Fields
		}
		if pr, ok := placement.AsRefusal(err); ok {
			p.Placement = &PlacementProblem{Classification: pr.Classification, Provider: pr.Provider, Tier: pr.Tier, Breaches: pr.Breaches}
		}
		var sr *baseline.ScanRefusal
		if errors.As(err, &sr) {
			p.Findings = sr.Findings
		}
	} else {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		p.Detail = "an internal error occurred; it has been logged"
	}
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func badRequest(w http.ResponseWriter, r *http.Request, detail string) {
	writeProblem(w, Problem{Type: "https://hatoba.dev/problems/bad-request", Title: "Bad Request",
		Status: http.StatusBadRequest, Detail: detail, Instance: r.URL.Path})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// maxBody bounds a JSON request body.
const maxBody = 1 << 20

// decodeJSON reads exactly one JSON object with only known fields, whose
// strings are all acceptable text (checkText), into v. On failure it
// writes a problem response whose detail is written for the person who
// made the request — naming the field when one is to blame — and returns
// false.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeJSONText(w, r, v, nil)
}

// decodeJSONText is decodeJSON for a body whose free fields may hold
// format characters (see textFields).
func decodeJSONText(w http.ResponseWriter, r *http.Request, v any, free textFields) bool {
	status, err := decodeBody(w, r, v, free)
	if err != nil {
		p := Problem{Type: "https://hatoba.dev/problems/bad-request", Title: http.StatusText(status),
			Status: status, Detail: err.Error(), Instance: r.URL.Path}
		var te *textError
		if errors.As(err, &te) {
			p.Field = te.field
		}
		writeProblem(w, p)
		return false
	}
	return true
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any, free textFields) (int, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type must be application/json, not %q", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, fmt.Errorf("the request body is larger than %d bytes", maxBody)
		}
		return http.StatusBadRequest, fmt.Errorf("the request body cannot be read: %w", err)
	}
	if err := checkText(body, free); err != nil {
		return http.StatusBadRequest, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syntax *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return http.StatusBadRequest, errors.New("the request body is empty; a JSON object is required")
		case errors.As(err, &syntax):
			return http.StatusBadRequest, fmt.Errorf("the request body is not valid JSON (at byte %d)", syntax.Offset)
		case errors.As(err, &typeErr):
			return http.StatusBadRequest, fmt.Errorf("field %q must be a %s", typeErr.Field, typeErr.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return http.StatusBadRequest, fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return http.StatusBadRequest, errors.New("the request body ends in the middle of a JSON value")
		default:
			return http.StatusBadRequest, fmt.Errorf("the request body cannot be read: %w", err)
		}
	}
	if dec.More() {
		return http.StatusBadRequest, errors.New("the request body must hold exactly one JSON object")
	}
	return 0, nil
}
