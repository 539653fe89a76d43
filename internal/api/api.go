// Package api is hatoba's JSON API under /api/v1: a thin adapter that
// decodes requests, calls the capabilities and encodes their answers.
package api

import (
	"context"
	_ "embed"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the API's OpenAPI 3 document.
func OpenAPI() []byte { return openAPIDocument }

// Server serves the API.
type Server struct {
	DB      *store.DB
	Envs    *env.Store
	Orgs    *org.Registry
	Vending *vending.Engine
	Version string
	Logger  *slog.Logger
}

// Route is one entry of the route table.
type Route struct {
	Method  string
	Pattern string
	handler func(*Server, http.ResponseWriter, *http.Request)
}

// Routes is the API's route table: every endpoint, in one readable list.
var Routes = []Route{
	{"GET", "/api/v1/openapi.json", (*Server).openAPI},
	{"GET", "/api/v1/system", (*Server).system},
	{"GET", "/api/v1/organizations", (*Server).listOrgs},
	{"POST", "/api/v1/organizations", (*Server).createOrg},
	{"POST", "/api/v1/organizations/import", (*Server).importOrgs},
	{"GET", "/api/v1/organizations/{id}", (*Server).getOrg},
	{"PUT", "/api/v1/organizations/{id}/billing", (*Server).setBilling},
	{"GET", "/api/v1/environments", (*Server).listEnvs},
	{"POST", "/api/v1/environments", (*Server).requestEnv},
	{"GET", "/api/v1/environments/{id}", (*Server).getEnv},
	{"POST", "/api/v1/environments/{id}/approve", (*Server).approveEnv},
	{"POST", "/api/v1/environments/{id}/reject", (*Server).rejectEnv},
	{"POST", "/api/v1/environments/{id}/retry", (*Server).retryEnv},
	{"POST", "/api/v1/environments/{id}/transfer", (*Server).transferEnv},
	{"POST", "/api/v1/environments/{id}/close", (*Server).closeEnv},
	{"GET", "/api/v1/approvals", (*Server).listApprovals},
}

// Register adds the API's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	for _, rt := range Routes {
		h := rt.handler
		mux.HandleFunc(rt.Method+" "+rt.Pattern, func(w http.ResponseWriter, r *http.Request) { h(s, w, r) })
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, Problem{Type: "https://hatoba.dev/problems/not-found", Title: "Not Found", Status: http.StatusNotFound,
			Detail: "no API endpoint " + r.Method + " " + r.URL.Path + "; see /api/v1/openapi.json", Instance: r.URL.Path})
	})
}

// actor names who acts. Until hatoba's identity layer lands it is what the
// client says in X-Hatoba-Actor; it is recorded, not trusted.
func actor(r *http.Request) string {
	if a := strings.TrimSpace(r.Header.Get("X-Hatoba-Actor")); a != "" && len(a) <= 100 {
		return a
	}
	return "api"
}

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
}

// SystemInfo describes this hatoba.
type SystemInfo struct {
	Version       string            `json:"version"`
	SchemaVersion int               `json:"schema_version"`
	Database      string            `json:"database"`
	Providers     []string          `json:"providers"`
	Environments  map[env.State]int `json:"environments"`
	Organizations int               `json:"organizations"`
}

func (s *Server) system(w http.ResponseWriter, r *http.Request) {
	info, err := s.Info(r.Context())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// Info gathers SystemInfo.
func (s *Server) Info(ctx context.Context) (SystemInfo, error) {
	v, err := s.DB.SchemaVersion(ctx)
	if err != nil {
		return SystemInfo{}, err
	}
	counts, err := s.Envs.CountByState(ctx)
	if err != nil {
		return SystemInfo{}, err
	}
	n, err := s.Orgs.Count(ctx)
	if err != nil {
		return SystemInfo{}, err
	}
	return SystemInfo{Version: s.Version, SchemaVersion: v, Database: string(s.DB.Dialect()),
		Providers: s.Vending.ConnectionNames(), Environments: counts, Organizations: n}, nil
}

func limitParam(r *http.Request) (int, error) {
	raw := r.URL.Query().Get("limit")
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, fault.InvalidField("limit", "limit must be a whole number from 1 to 500, not %q", raw)
	}
	return n, nil
}

func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	q := r.URL.Query()
	page, err := s.Orgs.List(r.Context(), org.ListParams{Query: q.Get("q"), ParentID: q.Get("parent_id"),
		Kind: org.Kind(q.Get("kind")), Limit: limit, Cursor: q.Get("cursor")})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) {
	o, err := s.Orgs.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) createOrg(w http.ResponseWriter, r *http.Request) {
	var o org.Organization
	if !decodeJSON(w, r, &o) {
		return
	}
	created, err := s.Orgs.Create(r.Context(), o)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Location", "/api/v1/organizations/"+created.ID)
	writeJSON(w, http.StatusCreated, created)
}

func (s *Server) setBilling(w http.ResponseWriter, r *http.Request) {
	var c org.Contact
	if !decodeJSON(w, r, &c) {
		return
	}
	if err := s.Orgs.SetBilling(r.Context(), r.PathValue("id"), c); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	s.getOrg(w, r)
}

// maxImport bounds an uploaded CSV (the full national data is ~400 KB).
const maxImport = 16 << 20

func (s *Server) importOrgs(w http.ResponseWriter, r *http.Request) {
	var sources []org.Source
	if r.URL.Query().Get("embedded") == "true" {
		sources = org.EmbeddedSources()
	} else {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			badRequest(w, r, "send a CSV file with Content-Type text/csv, or use ?embedded=true to import the built-in data of Japan's local governments")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImport))
		if err != nil {
			writeProblem(w, Problem{Type: "https://hatoba.dev/problems/bad-request", Title: "Request Entity Too Large",
				Status: http.StatusRequestEntityTooLarge, Detail: "a CSV upload may be at most 16 MiB", Instance: r.URL.Path})
			return
		}
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "upload.csv"
		}
		sources = []org.Source{{Name: name, R: strings.NewReader(string(body))}}
	}
	report, err := s.Orgs.Import(r.Context(), sources...)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

func (s *Server) listEnvs(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	q := r.URL.Query()
	page, err := s.Envs.List(r.Context(), env.ListParams{OrgID: q.Get("org_id"), State: env.State(q.Get("state")),
		Limit: limit, Cursor: q.Get("cursor")})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	q.Set("state", string(env.Requested))
	r.URL.RawQuery = q.Encode()
	s.listEnvs(w, r)
}

// EnvironmentDetail is an environment with its steps and history.
type EnvironmentDetail struct {
	env.Environment
	Steps  []env.Step  `json:"steps"`
	Events []env.Event `json:"events"`
}

// Detail loads an environment with its steps and history.
func (s *Server) Detail(ctx context.Context, id string) (EnvironmentDetail, error) {
	en, err := s.Envs.Get(ctx, s.DB, id)
	if err != nil {
		return EnvironmentDetail{}, err
	}
	steps, err := s.Envs.Steps(ctx, s.DB, id)
	if err != nil {
		return EnvironmentDetail{}, err
	}
	events, err := s.Envs.Events(ctx, id)
	if err != nil {
		return EnvironmentDetail{}, err
	}
	return EnvironmentDetail{Environment: en, Steps: steps, Events: events}, nil
}

func (s *Server) getEnv(w http.ResponseWriter, r *http.Request) {
	d, err := s.Detail(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 200

func (s *Server) requestEnv(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		badRequest(w, r, "the Idempotency-Key header may be at most 200 characters")
		return
	}
	var req env.Request
	if !decodeJSON(w, r, &req) {
		return
	}
	req.RequestedBy = actor(r)
	en, created, err := s.Vending.Request(r.Context(), req, key)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Location", "/api/v1/environments/"+en.ID)
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, en)
}

type decision struct {
	Note   string `json:"note,omitempty"`
	Reason string `json:"reason,omitempty"`
	OrgID  string `json:"org_id,omitempty"`
}

// decodeOptional decodes a body that may be absent.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength == 0 {
		return true
	}
	return decodeJSON(w, r, v)
}

func (s *Server) act(w http.ResponseWriter, r *http.Request, required bool, fn func(ctx context.Context, id string, d decision) (env.Environment, error)) {
	var d decision
	if required {
		if !decodeJSON(w, r, &d) {
			return
		}
	} else if !decodeOptional(w, r, &d) {
		return
	}
	en, err := fn(r.Context(), r.PathValue("id"), d)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, en)
}

func (s *Server) approveEnv(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, false, func(ctx context.Context, id string, d decision) (env.Environment, error) {
		return s.Vending.Approve(ctx, id, actor(r), d.Note)
	})
}

func (s *Server) rejectEnv(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, true, func(ctx context.Context, id string, d decision) (env.Environment, error) {
		return s.Vending.Reject(ctx, id, actor(r), d.Reason)
	})
}

func (s *Server) retryEnv(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, false, func(ctx context.Context, id string, _ decision) (env.Environment, error) {
		return s.Vending.Retry(ctx, id, actor(r))
	})
}

func (s *Server) transferEnv(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, true, func(ctx context.Context, id string, d decision) (env.Environment, error) {
		if d.OrgID == "" {
			return env.Environment{}, fault.InvalidField("org_id", "org_id of the receiving organisation is required")
		}
		return s.Vending.Transfer(ctx, id, d.OrgID, actor(r))
	})
}

func (s *Server) closeEnv(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, false, func(ctx context.Context, id string, d decision) (env.Environment, error) {
		return s.Vending.Close(ctx, id, actor(r), d.Reason)
	})
}
