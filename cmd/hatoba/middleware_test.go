package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/config"
)

const testMetricsToken = "0123456789abcdef0123456789abcdef"

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hatoba_up 1\n") })

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestBearerOnly(t *testing.T) {
	t.Parallel()
	h := bearerOnly(testMetricsToken, okHandler)
	for _, tt := range []struct {
		name, auth string
		status     int
	}{
		{"ok/the token", "Bearer " + testMetricsToken, 200},
		{"ok/scheme in another case", "bearer " + testMetricsToken, 200},
		{"fail/none", "", 401},
		{"fail/another token", "Bearer " + strings.Repeat("x", len(testMetricsToken)), 401},
		{"fail/a prefix of it", "Bearer " + testMetricsToken[:10], 401},
		{"fail/basic", "Basic " + testMetricsToken, 401},
		{"fail/the token alone", testMetricsToken, 401},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.status || tt.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d, want %d", tt.name, w.Code, tt.status)
		}
	}
}

// TestServeMetrics: on its own listener /metrics is off the main mux; on
// the main mux only with the token; a taken address does not stop serve.
func TestServeMetrics(t *testing.T) {
	t.Parallel()
	get := func(url, token string) int {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("ok/own listener with a token", func(t *testing.T) {
		t.Parallel()
		// Find a free port, then let serveMetrics bind it.
		probe, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := probe.Addr().String()
		probe.Close()
		mux := http.NewServeMux()
		stop, err := serveMetrics(config.Metrics{Listen: addr, Token: testMetricsToken}, okHandler, mux, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		if st := get("http://"+addr+"/metrics", testMetricsToken); st != 200 {
			t.Errorf("with the token: %d", st)
		}
		if st := get("http://"+addr+"/metrics", ""); st != 401 {
			t.Errorf("without the token: %d", st)
		}
		main := httptest.NewServer(mux)
		defer main.Close()
		if st := get(main.URL+"/metrics", testMetricsToken); st != 404 {
			t.Errorf("the main listener still answers /metrics: %d", st)
		}
	})
	t.Run("ok/main listener behind the token", func(t *testing.T) {
		t.Parallel()
		mux := http.NewServeMux()
		stop, err := serveMetrics(config.Metrics{Token: testMetricsToken}, okHandler, mux, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		main := httptest.NewServer(mux)
		defer main.Close()
		if st := get(main.URL+"/metrics", ""); st != 401 {
			t.Errorf("anyone: %d, want 401", st)
		}
		if st := get(main.URL+"/metrics", testMetricsToken); st != 200 {
			t.Errorf("with the token: %d", st)
		}
	})
	t.Run("ok/an address taken is not fatal", func(t *testing.T) {
		t.Parallel()
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer taken.Close()
		stop, err := serveMetrics(config.Metrics{Listen: taken.Addr().String()}, okHandler, http.NewServeMux(), quietLog())
		if err != nil {
			t.Fatalf("a taken address stopped serve: %v", err)
		}
		stop()
	})
	t.Run("fail/an address that cannot be", func(t *testing.T) {
		t.Parallel()
		if _, err := serveMetrics(config.Metrics{Listen: "256.0.0.1:1"}, okHandler, http.NewServeMux(), quietLog()); err == nil {
			t.Fatal("no error for an impossible address")
		}
	})
}

// syncBuffer is a bytes.Buffer for a logger written from the server's
// goroutines and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A client that hangs up mid-handshake is logged through slog at debug,
// not printed on the terminal as an unstructured line.
func TestServerErrorLogIsSlogDebug(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = serverErrorLog(log)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(buf.String(), "TLS handshake error"); {
		if time.Now().After(deadline) {
			t.Fatalf("no handshake error logged: %q", buf.String())
		}
		time.Sleep(10 * time.Millisecond) // polling, with the deadline above
	}
	if line := buf.String(); !strings.Contains(line, "level=DEBUG") || !strings.Contains(line, "component=http") {
		t.Fatalf("logged %q; want a DEBUG record of component http", line)
	}
}
