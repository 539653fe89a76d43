package notify_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// Central's digest holds critical events only — counts per organisation,
// the findings with resource ids, the trend — signed with the platform's
// key, kept once per period and sent to central's channels.
func TestCriticalDigest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		key, _, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "test.invalid/audit")
		if err != nil {
			t.Fatal(err)
		}
		clk := &clock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
		s := newService(t, db, clk, notify.Options{Signer: key.Signer})
		rc := newReceiver(t)
		central, err := s.CreateChannel(ctx, "p-op", "", notify.Central, notify.ChannelSpec{Name: "central", Kind: notify.Webhook, URL: rc.srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		rc.key = central.SigningKey
		// Two days ago: one critical of org-a (the trend's baseline).
		if _, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "c0", "r0", controls.Critical)}); err != nil {
			t.Fatal(err)
		}
		clk.add(24 * time.Hour) // 12-06
		if _, err := s.Ingest(ctx, []notify.Incoming{
			finding("org-a", "env-a1", "c1", "arn:aws:s3:::a", controls.Critical),
			finding("org-a", "env-a1", "c2", "arn:aws:s3:::b", controls.Critical),
			finding("org-b", "env-b1", "c1", "arn:aws:s3:::c", controls.Critical),
			finding("org-b", "env-b1", "c3", "arn:aws:s3:::high", controls.High),
		}); err != nil {
			t.Fatal(err)
		}
		clk.add(24 * time.Hour) // 12-07: the daily digest covers 12-06
		sd, err := s.MakeDigest(ctx, "system", notify.Daily)
		if err != nil {
			t.Fatal(err)
		}
		d, err := notify.OpenDigest([]byte(sd.Signed), key.Verifier)
		if err != nil {
			t.Fatal(err)
		}
		if d.Critical != 3 || d.Previous != 1 || len(d.Findings) != 3 || len(d.Organizations) != 2 {
			t.Fatalf("digest %+v", d)
		}
		if d.Organizations[0].OrgID != "org-a" || d.Organizations[0].Critical != 2 || d.Organizations[0].Previous != 1 {
			t.Fatalf("organisations %+v", d.Organizations)
		}
		if strings.Contains(sd.Signed, "arn:aws:s3:::high") {
			t.Fatal("a high finding reached central's digest")
		}
		// Tampered, it does not verify.
		if _, err := notify.OpenDigest([]byte(strings.Replace(sd.Signed, `"critical":3`, `"critical":0`, 1)), key.Verifier); err == nil {
			t.Fatal("a tampered digest verified")
		}
		again, err := s.MakeDigest(ctx, "system", notify.Daily)
		if err != nil || again.ID != sd.ID {
			t.Fatalf("made twice: %s, %s, %v", sd.ID, again.ID, err)
		}
		if drain(t, s) != 1 {
			t.Fatal("the digest did not go to central's channel")
		}
		got := rc.received()
		if len(got) != 1 || got[0].msg.Kind != "digest" || !got[0].sigOK {
			t.Fatalf("central received %+v", got)
		}
		var payload struct{ Signed string }
		if err := json.Unmarshal(got[0].msg.Payload, &payload); err != nil || payload.Signed != sd.Signed {
			t.Fatalf("payload %s", got[0].msg.Payload)
		}
		// Tenants' events never reach central's channels.
		if ds, _ := s.Deliveries(ctx, notify.Central, "", 0); len(ds) != 1 {
			t.Fatalf("central's deliveries %+v", ds)
		}
		list, err := s.Digests(ctx, 0)
		if err != nil || len(list) != 1 {
			t.Fatalf("digests %+v, %v", list, err)
		}
	})
}

// From a critical event central sends the tenant a notice; the tenant
// acknowledges it and reports the fix; everything is audited.
func TestNotices(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(t, db, &clock{t: start}, notify.Options{})
		rc := newReceiver(t)
		ch, err := s.CreateChannel(ctx, "p-a", "", "org-a", notify.ChannelSpec{Name: "soc", Kind: notify.Webhook, URL: rc.srv.URL, Enabled: new(bool)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateChannel(ctx, "p-a", "", "org-a", ch.ID, notify.ChannelSpec{Enabled: func() *bool { b := true; return &b }()}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "c1", "r1", controls.Critical), finding("org-a", "env-a1", "c2", "r1", controls.High)}); err != nil {
			t.Fatal(err)
		}
		drain(t, s)
		evs, _ := s.Events(ctx, "org-a", false, 0)
		var crit, high string
		for _, e := range evs {
			if e.Severity == controls.Critical {
				crit = e.ID
			} else {
				high = e.ID
			}
		}
		if _, err := s.SendNotice(ctx, "p-op", high, "please look"); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("a notice about a high event: %v", err)
		}
		n, err := s.SendNotice(ctx, "p-op", crit, "この公開バケットを至急閉じてください")
		if err != nil {
			t.Fatal(err)
		}
		drain(t, s)
		got := rc.received()
		if last := got[len(got)-1]; last.msg.Kind != "notice" || !strings.Contains(string(last.msg.Payload), n.ID) {
			t.Fatalf("the tenant's channel got %+v", last.msg)
		}
		if _, err := s.AnswerNotice(ctx, "p-b", "", "org-b", n.ID, "acknowledged", ""); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("another tenant answers: %v", err)
		}
		if _, err := s.AnswerNotice(ctx, "p-a", "", "org-a", n.ID, "fixed", ""); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("a fix without a note: %v", err)
		}
		if _, err := s.AnswerNotice(ctx, "p-a", "", "org-a", n.ID, "acknowledged", ""); err != nil {
			t.Fatal(err)
		}
		done, err := s.AnswerNotice(ctx, "p-a", "", "org-a", n.ID, "fixed", "バケットを非公開にしました")
		if err != nil || done.State != "fixed" || done.AcknowledgedBy != "p-a" || done.FixedAt == nil {
			t.Fatalf("fixed: %+v, %v", done, err)
		}
		if _, err := s.AnswerNotice(ctx, "p-a", "", "org-a", n.ID, "acknowledged", ""); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("acknowledged after the fix: %v", err)
		}
		acts := strings.Join(auditActions(t, db, "org-a"), ",")
		for _, a := range []string{"notify.notice.send", "notify.notice.acknowledge", "notify.notice.fix"} {
			if !strings.Contains(acts, a) {
				t.Errorf("no %s in %s", a, acts)
			}
		}
	})
}

// hatoba's own detective findings reach the channels from posture's
// transaction, and their resolution resolves the event.
func TestPostureFindingsAreRouted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := org.New(db, time.Now).Create(ctx, audit.Acting{Actor: "system"}, org.Organization{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁"}); err != nil {
			t.Fatal(err)
		}
		if err := env.NewStore(db, time.Now).Insert(ctx, db, env.Environment{ID: "env-1", OrgID: "nat-digital", SystemName: "s", Purpose: env.Production,
			Classification: env.Level2, Provider: "sim", State: env.Ready, AccountEmail: "e@example.invalid"}, nil); err != nil {
			t.Fatal(err)
		}
		cs, err := controls.Builtin()
		if err != nil {
			t.Fatal(err)
		}
		engine, err := controls.NewEngine(ctx, cs)
		if err != nil {
			t.Fatal(err)
		}
		clk := &clock{t: start}
		s := newService(t, db, clk, notify.Options{})
		rc := newReceiver(t)
		ch, err := s.CreateChannel(ctx, "p-a", "", "nat-digital", notify.ChannelSpec{Name: "soc", Kind: notify.Webhook, URL: rc.srv.URL, MinSeverity: sev(controls.Low)})
		if err != nil {
			t.Fatal(err)
		}
		rc.key = ch.SigningKey
		p := posture.New(db, engine, clk.now)
		p.SetNotifier(notify.PostureHook{S: s})
		alice := controls.Resource{Provider: "aws", Type: "aws_iam_user", ID: "arn:aws:iam::1:user/alice", Region: "ap-northeast-1", Config: map[string]any{"name": "alice"}}
		sum, err := p.Record(ctx, "env-1", "nat-digital", []controls.Resource{alice})
		if err != nil || sum.Opened == 0 {
			t.Fatalf("Record = %+v, %v", sum, err)
		}
		drain(t, s)
		got := rc.received()
		if len(got) != 1 || len(got[0].msg.Events) != sum.Opened || got[0].msg.Events[0].Source != "hatoba" {
			t.Fatalf("received %+v", got)
		}
		// Seen again: nothing new. Gone: the event resolves.
		if _, err := p.Record(ctx, "env-1", "nat-digital", []controls.Resource{alice}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Record(ctx, "env-1", "nat-digital", nil); err != nil {
			t.Fatal(err)
		}
		drain(t, s)
		if len(rc.received()) != 1 {
			t.Fatalf("sent again: %d", len(rc.received()))
		}
		evs, _ := s.Events(ctx, "nat-digital", false, 0)
		for _, e := range evs {
			if e.Status != "resolved" {
				t.Fatalf("event %+v stays open", e)
			}
		}
	})
}
