package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// Slack and Teams incoming webhooks get their own JSON shapes.
func TestSlackAndTeamsShapes(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	s := newService(t, db, &clock{t: start}, notify.Options{})
	var mu sync.Mutex
	bodies := map[string]map[string]any{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &v); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		bodies[r.URL.Path] = v
		mu.Unlock()
	}))
	defer srv.Close()
	for _, k := range []notify.Kind{notify.Slack, notify.Teams} {
		c, err := s.CreateChannel(ctx, "p-a", "", "org-a", notify.ChannelSpec{Name: string(k), Kind: k, URL: srv.URL + "/" + string(k)})
		if err != nil || c.SigningKey != "" || c.TargetHint != srv.URL+"/…" {
			t.Fatalf("%s: %+v, %v", k, c, err)
		}
	}
	if _, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "aws-s3-no-public", "arn:aws:s3:::open", controls.Critical)}); err != nil {
		t.Fatal(err)
	}
	if drain(t, s) != 2 {
		t.Fatal("not delivered to both")
	}
	slack := bodies["/slack"]
	if text, _ := slack["text"].(string); !strings.Contains(text, "arn:aws:s3:::open") {
		t.Fatalf("slack text %v", slack)
	}
	if blocks, _ := slack["blocks"].([]any); len(blocks) != 3 || blocks[0].(map[string]any)["type"] != "header" {
		t.Fatalf("slack blocks %v", slack["blocks"])
	}
	teams := bodies["/teams"]
	att, _ := teams["attachments"].([]any)
	if teams["type"] != "message" || len(att) != 1 || att[0].(map[string]any)["contentType"] != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("teams %v", teams)
	}
	card := att[0].(map[string]any)["content"].(map[string]any)
	if card["type"] != "AdaptiveCard" || !strings.Contains(fmt.Sprint(card["body"]), "arn:aws:s3:::open") {
		t.Fatalf("teams card %v", card)
	}
}

// smtpServer returns the test SMTP server's addresses (scripts/smtpserver.sh
// starts mailpit), skipping when there is none — failing instead under
// HATOBA_REQUIRE_SMTP=1, as CI sets.
func smtpServer(t *testing.T) (smtpAddr, apiURL string) {
	t.Helper()
	smtpAddr, apiURL = os.Getenv("HATOBA_TEST_SMTP_ADDR"), os.Getenv("HATOBA_TEST_SMTP_API")
	if smtpAddr == "" {
		smtpAddr = "127.0.0.1:1025"
	}
	if apiURL == "" {
		apiURL = "http://127.0.0.1:8025"
	}
	resp, err := http.Get(apiURL + "/api/v1/info")
	if err == nil {
		resp.Body.Close()
		return smtpAddr, apiURL
	}
	if os.Getenv("HATOBA_REQUIRE_SMTP") == "1" {
		t.Fatalf("no SMTP server at %s (API %s): %v; run scripts/smtpserver.sh", smtpAddr, apiURL, err)
	}
	t.Skipf("no SMTP server at %s (API %s); run scripts/smtpserver.sh to start mailpit", smtpAddr, apiURL)
	return "", ""
}

// An e-mail channel sends through a real SMTP server, with the delivery id
// as Message-ID, a Japanese subject encoded, and the findings in the body.
func TestEmailThroughSMTP(t *testing.T) {
	t.Parallel()
	smtpAddr, api := smtpServer(t)
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	s := newService(t, db, &clock{t: time.Now().UTC()}, notify.Options{})
	if err := s.SetSettings(ctx, "p-op", notify.Settings{SMTPAddr: smtpAddr, SMTPFrom: "hatoba@example.go.jp", Digests: []string{"daily"}}); err != nil {
		t.Fatal(err)
	}
	rcpt := fmt.Sprintf("soc-%d@example.lg.jp", time.Now().UnixNano())
	if _, err := s.CreateChannel(ctx, "p-a", "", "org-a", notify.ChannelSpec{Name: "mail", Kind: notify.Email, Recipients: []string{rcpt}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "aws-iam-no-users", "arn:aws:iam::1:user/mallory", controls.Critical)}); err != nil {
		t.Fatal(err)
	}
	if drain(t, s) != 1 {
		t.Fatal("not sent")
	}
	ds, _ := s.Deliveries(ctx, "org-a", notify.Delivered, 0)
	if len(ds) != 1 {
		t.Fatalf("deliveries %+v", ds)
	}
	var list struct {
		Messages []struct {
			ID        string `json:"ID"`
			MessageID string `json:"MessageID"`
			Subject   string `json:"Subject"`
		} `json:"messages"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(api + "/api/v1/search?query=" + url.QueryEscape("to:"+rcpt))
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Messages) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(list.Messages) != 1 {
		t.Fatalf("mailpit holds %d messages for %s", len(list.Messages), rcpt)
	}
	m := list.Messages[0]
	if m.MessageID != ds[0].ID+"@hatoba" || !strings.Contains(m.Subject, "検出 1 件") {
		t.Fatalf("message %+v", m)
	}
	resp, err := http.Get(api + "/api/v1/message/" + m.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var full struct{ Text string }
	if err := json.NewDecoder(resp.Body).Decode(&full); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(full.Text, "arn:aws:iam::1:user/mallory") || !strings.Contains(full.Text, ds[0].ID) {
		t.Fatalf("body %q", full.Text)
	}
}

// An unreachable SMTP relay is a failed attempt, retried like any other.
func TestEmailRelayDown(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	s := newService(t, db, &clock{t: start}, notify.Options{})
	if _, err := s.CreateChannel(ctx, "p-a", "", "org-a", notify.ChannelSpec{Name: "mail", Kind: notify.Email, Recipients: []string{"soc@example.lg.jp"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "c", "r", controls.Critical)}); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	ds, _ := s.Deliveries(ctx, "org-a", notify.Pending, 0)
	if len(ds) != 1 || !strings.Contains(ds[0].LastError, "no SMTP relay") {
		t.Fatalf("deliveries %+v", ds)
	}
}

func TestChannelValidation(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	s := newService(t, db, &clock{t: start}, notify.Options{})
	bad := []notify.ChannelSpec{
		{Name: "", Kind: notify.Webhook, URL: "https://example.invalid/"},
		{Name: "x", Kind: "pager", URL: "https://example.invalid/"},
		{Name: "x", Kind: notify.Webhook, URL: "ftp://example.invalid/"},
		{Name: "x", Kind: notify.Webhook, URL: "https://user:pw@example.invalid/"},
		{Name: "x", Kind: notify.Email, Recipients: []string{"Bob <bob@example.invalid>"}},
		{Name: "x", Kind: notify.Email},
		{Name: "x", Kind: notify.Webhook, URL: "https://example.invalid/", TZ: strp("Mars/Olympus")},
		{Name: "x", Kind: notify.Webhook, URL: "https://example.invalid/", QuietFrom: strp("25:00")},
		{Name: "x", Kind: notify.Webhook, URL: "https://example.invalid/", GroupSeconds: intp(7200)},
		{Name: "x", Kind: notify.Webhook, URL: "https://example.invalid/", MinSeverity: sev("severe")},
	}
	for _, spec := range bad {
		if _, err := s.CreateChannel(ctx, "p-a", "", "org-a", spec); err == nil {
			t.Errorf("CreateChannel(%+v) succeeded", spec)
		}
	}
	// Without AllowPrivateTargets, a tenant's URL cannot reach hatoba's
	// own network.
	guarded := notify.New(db, notify.KeyService{Keys: reopenedKeys(t, db)}, (&clock{t: start}).now, notify.Options{})
	rc := newReceiver(t)
	if _, err := guarded.CreateChannel(ctx, "p-a", "", "org-a", notify.ChannelSpec{Name: "loop", Kind: notify.Webhook, URL: rc.srv.URL}); err == nil {
		t.Fatal("an http URL was accepted")
	}
	if _, err := guarded.CreateChannel(ctx, "p-a", "", "org-a", notify.ChannelSpec{Name: "loop", Kind: notify.Webhook, URL: "https://127.0.0.1:9/hook"}); err != nil {
		t.Fatal(err)
	}
	if _, err := guarded.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "c", "r", controls.Critical)}); err != nil {
		t.Fatal(err)
	}
	drain(t, guarded)
	ds, _ := guarded.Deliveries(ctx, "org-a", notify.Pending, 0)
	if len(ds) != 1 || !strings.Contains(ds[0].LastError, "not a public address") {
		t.Fatalf("a loopback webhook: %+v", ds)
	}
}
