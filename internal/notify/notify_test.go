package notify_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

var start = time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC) // 12:00 in Tokyo

func auditActions(t *testing.T, db *store.DB, org string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT action FROM audit_queue WHERE org_id = $1 ORDER BY id`, org)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// A finding reaches the organisation's webhook signed, with a delivery id;
// the channel's URL and key are stored sealed and never audited.
func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: start}
		s := newService(t, db, clk, notify.Options{})
		rc := newReceiver(t)
		ch, err := s.CreateChannel(ctx, "p-admin", "", "org-a", notify.ChannelSpec{Name: "soc", Kind: notify.Webhook, URL: rc.srv.URL + "/hook?secret=path"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ch.SigningKey, "whsec_") {
			t.Fatalf("signing key %q", ch.SigningKey)
		}
		rc.key = ch.SigningKey
		var sealed []byte
		if err := db.QueryRowContext(ctx, `SELECT sealed FROM notify_channels WHERE id = $1`, ch.ID).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte("secret=path")) || bytes.Contains(sealed, []byte(ch.SigningKey)) {
			t.Fatal("the channel's URL or key is stored in the clear")
		}
		var details string
		if err := db.QueryRowContext(ctx, `SELECT details FROM audit_queue WHERE action = 'notify.channel.create'`).Scan(&details); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(details, "secret=path") || strings.Contains(details, ch.SigningKey) {
			t.Fatalf("the audit entry holds the channel's secret: %s", details)
		}
		r, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "aws-iam-no-users", "arn:aws:iam::1:user/alice", controls.High)})
		if err != nil || r.New != 1 || r.Queued != 1 {
			t.Fatalf("Ingest = %+v, %v", r, err)
		}
		if n := drain(t, s); n != 1 {
			t.Fatalf("delivered %d", n)
		}
		got := rc.received()
		if len(got) != 1 || !got[0].sigOK {
			t.Fatalf("received %d, signature ok %v", len(got), len(got) == 1 && got[0].sigOK)
		}
		m := got[0].msg
		if m.DeliveryID == "" || got[0].header.Get(notify.HeaderDelivery) != m.DeliveryID || len(m.Events) != 1 ||
			m.Events[0].ResourceID != "arn:aws:iam::1:user/alice" || m.OrgID != "org-a" {
			t.Fatalf("message %+v", m)
		}
		ds, err := s.Deliveries(ctx, "org-a", notify.Delivered, 0)
		if err != nil || len(ds) != 1 || ds[0].ID != m.DeliveryID || ds[0].Attempts != 1 {
			t.Fatalf("deliveries %+v, %v", ds, err)
		}
		// The same finding again is a duplicate: nothing more is sent.
		if r, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "aws-iam-no-users", "arn:aws:iam::1:user/alice", controls.High)}); err != nil || r.Duplicate != 1 || r.Queued != 0 {
			t.Fatalf("again: %+v, %v", r, err)
		}
		// A sealed key service stops deliveries rather than leaking.
		if _, err := s.TestChannel(ctx, "p-admin", "", "org-a", ch.ID); err != nil {
			t.Fatal(err)
		}
		if drain(t, s) != 1 || len(rc.received()) != 2 || rc.received()[1].msg.Kind != "test" {
			t.Fatal("the test message did not arrive")
		}
	})
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"delivery_id":"dl-1"}`)
	h := http.Header{}
	h.Set(notify.HeaderTimestamp, "1800000000")
	h.Set(notify.HeaderSignature, notify.Sign("whsec_k", now.Unix(), body))
	tests := []struct {
		name string
		key  string
		body []byte
		now  time.Time
		ok   bool
	}{
		{"ok/fresh", "whsec_k", body, now.Add(time.Minute), true},
		{"fail/other-key", "whsec_x", body, now, false},
		{"fail/tampered", "whsec_k", []byte(`{"delivery_id":"dl-2"}`), now, false},
		{"fail/replayed-late", "whsec_k", body, now.Add(6 * time.Minute), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := notify.Verify(tc.key, h, tc.body, tc.now, 5*time.Minute); (err == nil) != tc.ok {
				t.Fatalf("Verify = %v", err)
			}
		})
	}
}

// A receiver that fails gets retries with backoff, then the delivery is
// dead, visible to the tenant, and sent again on request with the same id.
func TestRetryAndDeadLetter(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: start}
		s := newService(t, db, clk, notify.Options{MaxAttempts: 3, RetryBase: 10 * time.Second})
		rc := newReceiver(t)
		rc.setStatus(http.StatusServiceUnavailable)
		ch, err := s.CreateChannel(ctx, "p-admin", "", "org-a", notify.ChannelSpec{Name: "soc", Kind: notify.Webhook, URL: rc.srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		rc.key = ch.SigningKey
		if _, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "c1", "r1", controls.Critical)}); err != nil {
			t.Fatal(err)
		}
		if drain(t, s) != 1 {
			t.Fatal("first attempt")
		}
		// Not due again before the backoff.
		if drain(t, s) != 0 {
			t.Fatal("retried before the backoff")
		}
		pend, _ := s.Deliveries(ctx, "org-a", notify.Pending, 0)
		if len(pend) != 1 || pend[0].Attempts != 1 || !strings.Contains(pend[0].LastError, "HTTP 503") {
			t.Fatalf("pending %+v", pend)
		}
		for range 2 {
			clk.add(time.Hour)
			if drain(t, s) != 1 {
				t.Fatal("retry")
			}
		}
		dead, _ := s.Deliveries(ctx, "org-a", notify.Dead, 0)
		if len(dead) != 1 || dead[0].Attempts != 3 {
			t.Fatalf("dead %+v", dead)
		}
		// Another tenant cannot see or resend it.
		if _, err := s.Redeliver(ctx, "p-b", "", "org-b", dead[0].ID); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("another tenant's redeliver: %v", err)
		}
		rc.setStatus(http.StatusOK)
		if _, err := s.Redeliver(ctx, "p-admin", "", "org-a", dead[0].ID); err != nil {
			t.Fatal(err)
		}
		if drain(t, s) != 1 {
			t.Fatal("redelivery")
		}
		got := rc.received()
		if len(got) != 4 || got[3].msg.DeliveryID != dead[0].ID || !got[3].sigOK {
			t.Fatalf("received %d", len(got))
		}
		if acts := auditActions(t, db, "org-a"); acts[len(acts)-1] != "notify.delivery.retry" {
			t.Fatalf("audit %v", acts)
		}
		// Delivered messages leave the outbox after their retention.
		if n, err := s.Purge(ctx); err != nil || n != 0 {
			t.Fatalf("purged %d early: %v", n, err)
		}
		clk.add(notify.DeliveredRetention + time.Hour)
		if n, err := s.Purge(ctx); err != nil || n != 1 {
			t.Fatalf("purged %d: %v", n, err)
		}
	})
}

// A worker stopped in the middle of a delivery loses nothing: after its
// lease lapses, a restarted service sends it again with the same delivery
// id, which the receiver deduplicates.
func TestNothingLostWhenStoppedMidDelivery(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: start}
		s := newService(t, db, clk, notify.Options{Lease: time.Minute})
		rc := newReceiver(t)
		rc.hold = make(chan struct{})
		ch, err := s.CreateChannel(ctx, "p-admin", "", "org-a", notify.ChannelSpec{Name: "soc", Kind: notify.Webhook, URL: rc.srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		rc.key = ch.SigningKey
		if _, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "c1", "r1", controls.High)}); err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { s.Run(runCtx); close(done) }()
		<-rc.entered // the receiver has the request; the worker waits for its answer
		stop()       // serve stops (or dies) mid-delivery
		<-done
		sending, _ := s.Deliveries(ctx, "org-a", notify.Sending, 0)
		if len(sending) != 1 {
			t.Fatalf("after the stop: %+v", sending)
		}
		rc.mu.Lock()
		rc.hold = nil
		rc.mu.Unlock()
		// A restarted service: nothing is due until the lease lapses.
		restarted := notify.New(db, notify.KeyService{Keys: reopenedKeys(t, db)}, clk.now, notify.Options{AllowPrivateTargets: true})
		if drain(t, restarted) != 0 {
			t.Fatal("claimed under a live lease")
		}
		clk.add(2 * time.Minute)
		if drain(t, restarted) != 1 {
			t.Fatal("the lapsed delivery was not sent again")
		}
		ds, _ := s.Deliveries(ctx, "org-a", "", 0)
		if len(ds) != 1 || ds[0].State != notify.Delivered || ds[0].Attempts != 2 || ds[0].ID != sending[0].ID {
			t.Fatalf("deliveries %+v", ds)
		}
		seen := map[string]int{}
		for _, g := range rc.received() {
			seen[g.msg.DeliveryID]++
		}
		if seen[sending[0].ID] != 1 || len(seen) != 1 {
			// The first request was abandoned by the receiver's handler
			// (its context ended), so exactly one completed.
			t.Fatalf("received %v", seen)
		}
	})
}

// An organisation's events reach its channels only.
func TestNothingReachesAnotherTenant(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: start}
		s := newService(t, db, clk, notify.Options{})
		ra, rb := newReceiver(t), newReceiver(t)
		cha, err := s.CreateChannel(ctx, "p-a", "", "org-a", notify.ChannelSpec{Name: "soc", Kind: notify.Webhook, URL: ra.srv.URL, MinSeverity: sev(controls.Low)})
		if err != nil {
			t.Fatal(err)
		}
		chb, err := s.CreateChannel(ctx, "p-b", "", "org-b", notify.ChannelSpec{Name: "soc", Kind: notify.Webhook, URL: rb.srv.URL, MinSeverity: sev(controls.Low)})
		if err != nil {
			t.Fatal(err)
		}
		// org-a's findings, from hatoba and from Security Hub — including
		// one naming org-b's account, sent with org-a's token.
		if _, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "c1", "r1", controls.High)}); err != nil {
			t.Fatal(err)
		}
		parsed, err := notify.ParseASFF([]byte(asffEvent("111111111111", "arn:aws:s3:::a-bucket", "HIGH")))
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := notify.ParseASFF([]byte(asffEvent("222222222222", "arn:aws:s3:::b-bucket", "CRITICAL")))
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.IngestFrom(ctx, "org-a", append(parsed, foreign...))
		if err != nil || res.Unattributed != 1 || res.New != 1 {
			t.Fatalf("IngestFrom = %+v, %v", res, err)
		}
		drain(t, s)
		if len(rb.received()) != 0 {
			t.Fatalf("org-b received %d messages of org-a's", len(rb.received()))
		}
		if len(ra.received()) != 1 || len(ra.received()[0].msg.Events) != 2 {
			t.Fatalf("org-a received %+v", ra.received())
		}
		// Channels, deliveries and tests are per organisation.
		if _, err := s.Channel(ctx, "org-b", cha.ID); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("org-b reads org-a's channel: %v", err)
		}
		if _, err := s.TestChannel(ctx, "p-b", "", "org-b", cha.ID); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("org-b tests org-a's channel: %v", err)
		}
		if _, err := s.UpdateChannel(ctx, "p-b", "", "org-b", cha.ID, notify.ChannelSpec{Enabled: new(bool)}); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("org-b changes org-a's channel: %v", err)
		}
		if err := s.DeleteChannel(ctx, "p-b", "", "org-b", cha.ID); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("org-b deletes org-a's channel: %v", err)
		}
		if ds, _ := s.Deliveries(ctx, "org-b", "", 0); len(ds) != 0 {
			t.Fatalf("org-b sees deliveries %+v", ds)
		}
		if evs, _ := s.Events(ctx, "org-b", false, 0); len(evs) != 0 {
			t.Fatalf("org-b sees events %+v", evs)
		}
		// Ingestion tokens are per organisation.
		tokA, err := s.CreateIngestToken(ctx, "p-a", "", "org-a")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AuthenticateIngest(ctx, "org-a", tokA); err != nil {
			t.Fatal(err)
		}
		if err := s.AuthenticateIngest(ctx, "org-b", tokA); fault.KindOf(err) != fault.Unauthenticated {
			t.Fatalf("org-a's token for org-b: %v", err)
		}
		_ = chb
	})
}

func asffEvent(account, resource, severity string) string {
	return `{"version":"0","id":"e1","detail-type":"Security Hub Findings - Imported","source":"aws.securityhub","account":"` + account + `",
	"detail":{"findings":[{"SchemaVersion":"2018-10-08","Id":"arn:aws:securityhub:ap-northeast-1:` + account + `:finding/` + resource + `",
	"GeneratorId":"security-control/S3.8","AwsAccountId":"` + account + `","Title":"S3 general purpose buckets should block public access",
	"UpdatedAt":"2026-12-07T03:00:00.000Z","Severity":{"Label":"` + severity + `"},"Resources":[{"Type":"AwsS3Bucket","Id":"` + resource + `"}],
	"Compliance":{"Status":"FAILED","SecurityControlId":"S3.8"},"Workflow":{"Status":"NEW"},"RecordState":"ACTIVE"}]}}`
}

// Severity filters, grouping and quiet hours decide what goes when.
func TestFiltersGroupingQuietHours(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)} // 23:00 in Tokyo
		s := newService(t, db, clk, notify.Options{})
		rc := newReceiver(t)
		_, err := s.CreateChannel(ctx, "p-a", "", "org-a", notify.ChannelSpec{Name: "soc", Kind: notify.Webhook, URL: rc.srv.URL,
			MinSeverity: sev(controls.High), GroupSeconds: intp(300), QuietFrom: strp("22:00"), QuietTo: strp("07:00"), TZ: strp("Asia/Tokyo")})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Ingest(ctx, []notify.Incoming{
			finding("org-a", "env-a1", "c1", "r1", controls.Medium), // below the filter
			finding("org-a", "env-a1", "c2", "r1", controls.High),
			finding("org-a", "env-a1", "c3", "r1", controls.High),
		})
		if err != nil || r.New != 3 || r.Queued != 2 {
			t.Fatalf("Ingest = %+v, %v", r, err)
		}
		ds, _ := s.Deliveries(ctx, "org-a", notify.Pending, 0)
		wake := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC) // 07:00 in Tokyo
		if len(ds) != 1 || ds[0].Events != 2 || !ds[0].DueAt.Equal(wake) {
			t.Fatalf("pending %+v, want one message of 2 due %s", ds, wake)
		}
		if drain(t, s) != 0 {
			t.Fatal("sent during quiet hours")
		}
		// A critical event goes at once, and takes the waiting ones along.
		if _, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "c4", "r1", controls.Critical)}); err != nil {
			t.Fatal(err)
		}
		if drain(t, s) != 1 {
			t.Fatal("a critical event waited")
		}
		if got := rc.received(); len(got) != 1 || len(got[0].msg.Events) != 3 {
			t.Fatalf("received %+v", got)
		}
		// Outside quiet hours a high event waits for the group window only.
		clk.t = time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC)
		if _, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "c5", "r1", controls.High)}); err != nil {
			t.Fatal(err)
		}
		ds, _ = s.Deliveries(ctx, "org-a", notify.Pending, 0)
		if len(ds) != 1 || !ds[0].DueAt.Equal(clk.now().Add(5*time.Minute)) {
			t.Fatalf("pending %+v", ds)
		}
		clk.add(5 * time.Minute)
		if drain(t, s) != 1 {
			t.Fatal("not sent after the group window")
		}
	})
}

// A tenant's suppression keeps matching events from its channels until it
// expires or is lifted, and is audited with its reason.
func TestSuppressions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: start}
		s := newService(t, db, clk, notify.Options{})
		rc := newReceiver(t)
		if _, err := s.CreateChannel(ctx, "p-a", "", "org-a", notify.ChannelSpec{Name: "soc", Kind: notify.Webhook, URL: rc.srv.URL}); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []notify.Suppression{
			{Reason: "the bucket is public on purpose", ExpiresAt: start.Add(time.Hour)},
			{ControlID: "c1", Reason: "short", ExpiresAt: start.Add(time.Hour)},
			{ControlID: "c1", Reason: "the bucket is public on purpose", ExpiresAt: start.Add(-time.Hour)},
			{ControlID: "c1", Reason: "the bucket is public on purpose", ExpiresAt: start.Add(400 * 24 * time.Hour)},
		} {
			if _, err := s.Suppress(ctx, "p-a", "", "org-a", bad); fault.KindOf(err) != fault.Invalid {
				t.Errorf("Suppress(%+v) = %v, want invalid", bad, err)
			}
		}
		sp, err := s.Suppress(ctx, "p-a", "", "org-a", notify.Suppression{ControlID: "c1", Reason: "the bucket is public on purpose", ExpiresAt: start.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "c1", "r1", controls.Critical), finding("org-b", "env-b1", "c1", "r1", controls.Critical)})
		if err != nil || r.Suppressed != 1 || r.Queued != 0 {
			t.Fatalf("Ingest = %+v, %v", r, err)
		}
		evs, _ := s.Events(ctx, "org-a", false, 0)
		if len(evs) != 1 || evs[0].SuppressedBy != sp.ID {
			t.Fatalf("events %+v", evs)
		}
		// Expired, it no longer holds.
		clk.add(2 * time.Hour)
		if r, _ := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "c1", "r2", controls.Critical)}); r.Queued != 1 {
			t.Fatalf("after expiry: %+v", r)
		}
		if err := s.Lift(ctx, "p-b", "", "org-b", sp.ID); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("another tenant lifts it: %v", err)
		}
		acts := auditActions(t, db, "org-a")
		if !strings.Contains(strings.Join(acts, ","), "notify.suppression.create") {
			t.Fatalf("audit %v", acts)
		}
	})
}

// Security Hub's report of what hatoba found is the same event, and OCSF
// from hatoba's own export too.
func TestDeduplicatedAcrossSources(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: start}
		s := newService(t, db, clk, notify.Options{})
		trail := "arn:aws:cloudtrail:ap-northeast-1:111111111111:trail/main"
		if r, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "aws-cloudtrail-kms", trail, controls.Medium)}); err != nil || r.New != 1 {
			t.Fatalf("hatoba's: %+v, %v", r, err)
		}
		asff := `{"Findings":[{"Id":"arn:aws:securityhub:ap-northeast-1:111111111111:subscription/cis/3.7/finding/x","GeneratorId":"arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0/rule/2.7",
			"AwsAccountId":"111111111111","Title":"Ensure CloudTrail logs are encrypted at rest using KMS CMKs","Severity":{"Label":"MEDIUM"},
			"Resources":[{"Type":"AwsCloudTrailTrail","Id":"` + trail + `"}],"Compliance":{"Status":"FAILED","RelatedRequirements":["CIS AWS Foundations Benchmark v1.4.0/3.5"]}}]}`
		p, err := notify.ParseASFF([]byte(asff))
		if err != nil {
			t.Fatal(err)
		}
		if r, err := s.IngestFrom(ctx, "org-a", p); err != nil || r.Duplicate != 1 || r.New != 0 {
			t.Fatalf("Security Hub's copy: %+v, %v", r, err)
		}
		ocsf := `{"class_uid":2003,"severity_id":3,"status_id":1,"cloud":{"account":{"uid":"111111111111"}},"finding_info":{"uid":"f-1","title":"t"},
			"compliance":{"control":"aws-cloudtrail-kms","standards":["CIS AWS-3.5"]},"resources":[{"uid":"` + trail + `"}]}`
		p, err = notify.ParseOCSF([]byte(ocsf))
		if err != nil {
			t.Fatal(err)
		}
		if r, err := s.IngestFrom(ctx, "org-a", p); err != nil || r.Duplicate != 1 {
			t.Fatalf("OCSF copy: %+v, %v", r, err)
		}
		// Security Hub archiving its copy does not close what hatoba sees.
		p[0].Resolved = true
		p[0].Source = notify.SourceASFF
		if r, _ := s.IngestFrom(ctx, "org-a", p); r.Resolved != 0 {
			t.Fatalf("another source resolved hatoba's event: %+v", r)
		}
	})
}

// A sealed key service stops deliveries without using up their attempts:
// when it is unsealed, they go.
func TestSealedKeyServiceHoldsDeliveries(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	clk := &clock{t: start}
	ks := unsealedKeys(t, db)
	s := notify.New(db, notify.KeyService{Keys: ks}, clk.now, notify.Options{AllowPrivateTargets: true, MaxAttempts: 2})
	rc := newReceiver(t)
	if _, err := s.CreateChannel(ctx, "p-a", "", "org-a", notify.ChannelSpec{Name: "soc", Kind: notify.Webhook, URL: rc.srv.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ingest(ctx, []notify.Incoming{finding("org-a", "env-a1", "c", "r", controls.Critical)}); err != nil {
		t.Fatal(err)
	}
	if err := ks.Seal(ctx, authz.Principal{PersonID: "p-op", Role: authz.CentralOperator}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		drain(t, s)
		clk.add(time.Minute)
	}
	ds, _ := s.Deliveries(ctx, "org-a", "", 0)
	if len(ds) != 1 || ds[0].State != notify.Pending || ds[0].Attempts != 0 || len(rc.received()) != 0 {
		t.Fatalf("while sealed: %+v", ds)
	}
	shares, _ := sharesOf.Load(db)
	for _, sh := range shares.([]string)[:2] {
		if _, err := ks.SubmitShare(ctx, audit.Acting{Actor: "custodian"}, sh); err != nil {
			t.Fatal(err)
		}
	}
	if drain(t, s) != 1 || len(rc.received()) != 1 {
		t.Fatal("not delivered once unsealed")
	}
}
