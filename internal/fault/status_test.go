package fault_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"ok/invalid", fault.Invalidf("bad"), http.StatusUnprocessableEntity},
		{"ok/invalid field", fault.InvalidField("name", "bad"), http.StatusUnprocessableEntity},
		{"ok/not found", fault.NotFoundf("no"), http.StatusNotFound},
		{"ok/conflict", fault.Conflictf("clash"), http.StatusConflict},
		{"ok/forbidden", fault.Forbiddenf("no"), http.StatusForbidden},
		{"ok/unauthenticated", fault.Unauthenticatedf("who"), http.StatusUnauthorized},
		{"ok/unavailable", &fault.Error{Kind: fault.Unavailable, Message: "later"}, http.StatusServiceUnavailable},
		{"ok/wrapped", fmt.Errorf("vend e-1: %w", fault.NotFoundf("no")), http.StatusNotFound},
		{"fail/no kind is internal", errors.New("driver: broken pipe"), http.StatusInternalServerError},
		{"fail/unknown kind is internal", &fault.Error{Kind: "odd"}, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := fault.StatusOf(tt.err); got != tt.want {
				t.Errorf("StatusOf(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
