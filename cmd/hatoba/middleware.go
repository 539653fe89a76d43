package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hatoba-cloud/hatoba/internal/config"
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

// serveMetrics puts /metrics where cfg says: on its own plain-HTTP
// listener (loopback by default), or on the main mux; behind the bearer
// token when one is set (the configuration's validation demands one
// wherever the address is not the loopback). The returned func stops the
// listener.
//
// A metrics address already taken is logged, not fatal: several replicas
// on one host (tests, benchmarks, a trial) would otherwise stop each other
// from starting; the first keeps the port, the others serve without
// metrics until each is given its own metrics.listen.
func serveMetrics(cfg config.Metrics, h http.Handler, mux *http.ServeMux, log *slog.Logger) (func(), error) {
	if cfg.Token != "" {
		h = bearerOnly(cfg.Token, h)
	}
	if cfg.Listen == "" {
		mux.Handle("GET /metrics", h)
		log.Info("metrics on the main listener, behind metrics.token", "path", "/metrics")
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if errors.Is(err, syscall.EADDRINUSE) {
		log.Error("metrics: the address is taken (another replica on this host?); this process serves no /metrics: give it its own metrics.listen",
			"listen", cfg.Listen, "err", err)
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	m := http.NewServeMux()
	m.Handle("GET /metrics", h)
	srv := &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute,
		ErrorLog: serverErrorLog(log)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics endpoint", "url", "http://"+ln.Addr().String()+"/metrics", "token", cfg.Token != "")
	return func() { _ = srv.Close() }, nil
}

// bearerOnly passes only requests with "Authorization: Bearer <token>".
// Both sides are hashed before the constant-time comparison, so neither
// the token's bytes nor its length show in the time an answer takes.
func bearerOnly(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hatoba-metrics"`)
			http.Error(w, "send Authorization: Bearer <metrics.token>", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
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

// serverErrorLog is an http.Server's ErrorLog: its lines (a client that
// closes the connection mid-handshake, "http: TLS handshake error … EOF",
// as every health check and port scan does) go through slog at debug, not
// unstructured onto the terminal.
func serverErrorLog(log *slog.Logger) *stdlog.Logger {
	return slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelDebug)
}
