package vending

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// River's INFO lines reach the log at DEBUG: hidden at the default level,
// shown with log_level debug; its warnings stay warnings.
func TestRiverInfoIsDebug(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		level slog.Level
		want  []string
		not   []string
	}{
		{slog.LevelInfo, []string{"level=WARN msg=lost"}, []string{"started"}},
		{slog.LevelDebug, []string{"level=DEBUG msg=started component=river queue=default", "level=WARN msg=lost"}, nil},
	} {
		var buf bytes.Buffer
		base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level})).With("component", "river")
		log := slog.New(infoAsDebug{base.Handler()}).With("queue", "default")
		log.Info("started")
		log.Warn("lost")
		for _, w := range tc.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("at %s: %q lacks %q", tc.level, buf.String(), w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(buf.String(), n) {
				t.Errorf("at %s: %q has %q", tc.level, buf.String(), n)
			}
		}
	}
}
