package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/vending"
	"github.com/hatoba-cloud/hatoba/internal/web"
)

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// withMiddleware adds a request id, security headers, panic recovery and a
// structured access log to every request.
func withMiddleware(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic serving request", "request_id", id, "path", web.RedactPath(r.URL.Path), "panic", p)
				http.Error(rec, "internal error", http.StatusInternalServerError)
			}
			level := slog.LevelDebug
			if rec.status >= 500 {
				level = slog.LevelWarn
			}
			log.Log(r.Context(), level, "http", "request_id", id, "method", r.Method, "path", web.RedactPath(r.URL.Path),
				"status", rec.status, "duration", time.Since(start))
		}()
		next.ServeHTTP(rec, r)
	})
}

// stateCollector reports environments per state and held provider slots at
// scrape time, from the database every replica shares.
type stateCollector struct {
	envs   *env.Store
	engine *vending.Engine
	states *prometheus.Desc
	slots  *prometheus.Desc
}

func newStateCollector(envs *env.Store, engine *vending.Engine) *stateCollector {
	return &stateCollector{envs: envs, engine: engine,
		states: prometheus.NewDesc("hatoba_environments", "Environments by state.", []string{"state"}, nil),
		slots:  prometheus.NewDesc("hatoba_vend_slots_in_use", "Provider account creations in flight across all replicas.", []string{"provider"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.states
	ch <- c.slots
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if counts, err := c.envs.CountByState(ctx); err == nil {
		for _, st := range env.States {
			ch <- prometheus.MustNewConstMetric(c.states, prometheus.GaugeValue, float64(counts[st]), string(st))
		}
	}
	if slots, err := c.engine.SlotsInUse(ctx); err == nil {
		for _, name := range c.engine.ConnectionNames() {
			ch <- prometheus.MustNewConstMetric(c.slots, prometheus.GaugeValue, float64(slots[name]), name)
		}
	}
}
