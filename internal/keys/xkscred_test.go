package keys

import (
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

func TestXKSCredentials(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, shares, _, logs := newSplit(t, db, bigTTL)

		if _, _, err := s.CreateXKSCredential(ctxBg, staff, "org-a"); err == nil {
			t.Fatal("central staff created an XKS credential")
		}
		id1, sec1, err := s.CreateXKSCredential(ctxBg, owner, "org-a")
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^HATOBA[A-Z2-7]{14}$`).MatchString(id1) {
			t.Fatalf("access key id %q", id1)
		}
		if raw, err := base64.StdEncoding.DecodeString(sec1); err != nil || len(raw) < 32 {
			t.Fatalf("secret is not ≥ 32 bytes of base64: %v", err)
		}
		id2, _, err := s.CreateXKSCredential(ctxBg, owner, "org-a")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateXKSCredential(ctxBg, owner, "org-a"); err == nil || !strings.Contains(err.Error(), "revoke one") {
			t.Fatalf("a third live credential: %v", err)
		}
		org, sec, killed, err := s.XKSCredential(ctxBg, id1)
		if err != nil || org != "org-a" || sec != sec1 || killed {
			t.Fatalf("XKSCredential = %q, same secret %v, %v, %v", org, sec == sec1, killed, err)
		}
		var stored []byte
		if err := db.QueryRowContext(ctxBg, `SELECT wrapped_secret FROM xks_credentials WHERE access_key_id = $1`, id1).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if how := leaks(string(stored), []byte(sec1)); how != "" || strings.Contains(string(stored), sec1) {
			t.Fatal("the secret is stored in the clear")
		}
		if err := s.Kill(ctxBg, owner, "org-a"); err != nil {
			t.Fatal(err)
		}
		if _, _, killed, _ := s.XKSCredential(ctxBg, id1); !killed {
			t.Fatal("kill switch not reported")
		}

		if err := s.RevokeXKSCredential(ctxBg, owner, "org-b", id1); err == nil {
			t.Fatal("revoked another tenant's credential")
		}
		if err := s.RevokeXKSCredential(ctxBg, owner, "org-a", id1); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "revoked", func() error { _, _, _, err := s.XKSCredential(ctxBg, id1); return err }(), ErrUnknownXKSCredential)
		wantErr(t, "revoked twice", s.RevokeXKSCredential(ctxBg, owner, "org-a", id1), ErrUnknownXKSCredential)
		if _, _, err := s.CreateXKSCredential(ctxBg, owner, "org-a"); err != nil {
			t.Fatalf("rotation after revoke: %v", err)
		}
		list, err := s.XKSCredentials(ctxBg, "org-a")
		i := slices.IndexFunc(list, func(c XKSCredentialInfo) bool { return c.AccessKeyID == id1 })
		if err != nil || len(list) != 3 || i < 0 || list[i].RevokedAt == nil {
			t.Fatalf("XKSCredentials = %+v, %v", list, err)
		}

		// Sealed: no secret can be read or made; revoking still works.
		if err := s.Seal(ctxBg, owner); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "sealed read", func() error { _, _, _, err := s.XKSCredential(ctxBg, id2); return err }(), ErrSealed)
		wantErr(t, "sealed create", func() error { _, _, err := s.CreateXKSCredential(ctxBg, owner, "org-a"); return err }(), ErrSealed)
		if err := s.RevokeXKSCredential(ctxBg, owner, "org-a", id2); err != nil {
			t.Fatalf("revoke while sealed: %v", err)
		}
		for _, sh := range shares[1:4] {
			if _, err := s.SubmitShare(ctxBg, custodian, sh); err != nil {
				t.Fatal(err)
			}
		}

		acts := auditActions(t, db)
		if n := len(slices.DeleteFunc(slices.Clone(acts), func(a string) bool { return a != "key.xks_credential.create" })); n != 3 {
			t.Fatalf("create records %d: %v", n, acts)
		}
		if !slices.Contains(acts, "key.xks_credential.revoke") {
			t.Fatalf("no revoke record: %v", acts)
		}
		var details string
		if err := db.QueryRowContext(ctxBg, `SELECT string_agg(details, '') FROM audit_queue`).Scan(&details); err != nil {
			// SQLite spells it group_concat.
			if err := db.QueryRowContext(ctxBg, `SELECT group_concat(details, '') FROM audit_queue`).Scan(&details); err != nil {
				t.Fatal(err)
			}
		}
		if strings.Contains(details, sec1) || strings.Contains(logs.String(), sec1) {
			t.Fatal("a secret reached the audit log or the log")
		}
	})
}
