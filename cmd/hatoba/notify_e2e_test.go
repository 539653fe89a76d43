package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/notify"
)

// TestNotifyDeliverySurvivesKill: a tenant administrator adds a webhook
// channel with `hatoba notify channel add` and sends a test; serve is
// killed with SIGKILL while the receiver holds the request; the restarted
// serve (unsealed again) sends the same delivery id once the lease lapses,
// and the tenant sees it delivered on its second attempt.
func TestNotifyDeliverySurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	t.Parallel()
	dir := t.TempDir()
	dbURL := filepath.Join(dir, "hatoba.db")
	shares := keydInit(t, "--database-url", dbURL)
	serverCA := filepath.Join(dir, "tls", "server.pem")

	var mu sync.Mutex
	var got []notify.Message
	var calls atomic.Int32
	entered := make(chan struct{}, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if calls.Add(1) == 1 {
			// The first request is held until its sender dies.
			entered <- struct{}{}
			<-r.Context().Done()
			return
		}
		var m notify.Message
		_ = json.Unmarshal(body, &m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer receiver.Close()

	args := serveArgs(dir, dbURL, "--set", "notify.allow_private_targets=true", "--set", "notify.lease=2s")
	srv := start(t, args...)
	unseal(t, srv.url, serverCA, shares[0])
	unseal(t, srv.url, serverCA, shares[1])
	admin := createOrg(t, dbURL, srv.url)

	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(hatobaBinary(t), append(args, "--server", srv.url, "--server-ca", serverCA)...)
		cmd.Env = append(os.Environ(), "HATOBA_CONFIG=", "HATOBA_TOKEN="+admin)
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("hatoba %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return string(out)
	}
	var ch map[string]any
	if err := json.Unmarshal([]byte(cli("notify", "channel", "add", "--org", "nat-digital", "--name", "soc", "--kind", "webhook",
		"--url", receiver.URL+"/hook", "--min-severity", "critical", "--quiet", "22:00-07:00")), &ch); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ch["signing_key"].(string), "whsec_") || ch["quiet_from"] != "22:00" {
		t.Fatalf("channel %v", ch)
	}
	if out := cli("notify", "channels", "--org", "nat-digital"); !strings.Contains(out, "soc") || strings.Contains(out, "/hook") {
		t.Fatalf("notify channels:\n%s", out)
	}
	var dl map[string]any
	if err := json.Unmarshal([]byte(cli("notify", "channel", "test", ch["id"].(string), "--org", "nat-digital")), &dl); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatalf("the test message never arrived:\n%s", srv.logOutput())
	}
	srv.kill() // mid-delivery: the receiver holds the request

	srv = start(t, args...)
	unseal(t, srv.url, serverCA, shares[0])
	unseal(t, srv.url, serverCA, shares[1])
	deadline := time.Now().Add(60 * time.Second)
	var ds struct{ Items []notify.Delivery }
	for {
		callAs(t, admin, "GET", srv.url+"/api/v1/organizations/nat-digital/notify/deliveries", nil, &ds)
		if len(ds.Items) == 1 && ds.Items[0].State == notify.Delivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered after the restart: %+v\n%s", ds.Items, srv.logOutput())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ds.Items[0].ID != dl["id"] || ds.Items[0].Attempts != 2 {
		t.Fatalf("delivery %+v, want %s on its second attempt", ds.Items[0], dl["id"])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].DeliveryID != dl["id"] || got[0].Attempt != 2 || got[0].Kind != "test" {
		t.Fatalf("received %+v", got)
	}
}
