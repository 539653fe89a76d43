package api

import (
	"net/http"

	"github.com/hatoba-cloud/hatoba/internal/authz"
)

// hatoba's own secrets: written, listed by name, never read back through
// the API — only hatoba itself decrypts them, when it uses them.

func (s *Server) secretsOr503(w http.ResponseWriter, r *http.Request) bool {
	if s.Secrets == nil {
		writeError(w, r, s.Logger, errNoKeyService)
		return false
	}
	return true
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	if !s.secretsOr503(w, r) {
		return
	}
	if _, err := s.decide(r, authz.ReadSecrets, authz.Resource{}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	names, err := s.Secrets.Names(r.Context())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if names == nil {
		names = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"names": names})
}

// SecretInput is a secret to store.
type SecretInput struct {
	Value string `json:"value"`
}

// putSecret stores the value under the name in the path.
func (s *Server) putSecret(w http.ResponseWriter, r *http.Request) {
	if !s.secretsOr503(w, r) {
		return
	}
	d, err := s.decide(r, authz.WriteSecrets, authz.Resource{})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var in SecretInput
	if !decodeJSON(w, r, &in) {
		return
	}
	if err := s.Secrets.Put(r.Context(), actor(r, d), r.PathValue("name"), []byte(in.Value)); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
