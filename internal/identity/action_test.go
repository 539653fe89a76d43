package identity_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// TestSpendActionConfirmation: a card-signed confirmation is accepted
// once, from the person's own card only; its nonce is forgotten once the
// statement can no longer be fresh.
func TestSpendActionConfirmation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		person := func(name, serial string) string {
			p, tok, err := f.svc.Bootstrap(ctx, identity.Invitation{Role: authz.TenantAdmin, OrgID: "nat-digital", DisplayName: name})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.Accept(ctx, tok, cert(serial)); err != nil {
				t.Fatal(err)
			}
			return p.ID
		}
		alice, bob := person("A", "a1"), person("B", "b1")
		conf := func(personID string, card identity.Certificate, nonce byte) identity.ActionConfirmation {
			n := make([]byte, 32)
			n[0] = nonce
			return identity.ActionConfirmation{PersonID: personID, Card: card, Nonce: n, StatementSHA256: "ab12",
				ExpiresAt: f.clk.now().Add(2 * time.Minute)}
		}
		if err := f.svc.SpendActionConfirmation(ctx, conf(alice, cert("a1"), 1)); err != nil {
			t.Fatalf("ok/first use: %v", err)
		}
		err := f.svc.SpendActionConfirmation(ctx, conf(alice, cert("a1"), 1))
		if fault.KindOf(err) != fault.Forbidden || !errors.Is(err, identity.ErrActionReplayed) {
			t.Fatalf("fail/replay: %v", err)
		}
		if err := f.svc.SpendActionConfirmation(ctx, conf(alice, cert("b1"), 2)); fault.KindOf(err) != fault.Forbidden || errors.Is(err, identity.ErrActionReplayed) {
			t.Fatalf("fail/another person's card: %v", err)
		}
		if err := f.svc.SpendActionConfirmation(ctx, conf(alice, cert("zz"), 3)); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("fail/an unknown card: %v", err)
		}
		forged := cert("a1")
		forged.SPKISHA256[0] ^= 1
		if err := f.svc.SpendActionConfirmation(ctx, conf(alice, forged, 4)); fault.KindOf(err) != fault.Forbidden {
			t.Fatalf("fail/same serial, other key: %v", err)
		}
		if err := f.svc.SpendActionConfirmation(ctx, conf(bob, cert("b1"), 5)); err != nil {
			t.Fatalf("ok/bob: %v", err)
		}
		// Two requests racing with one confirmation: exactly one wins.
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for range 2 {
			wg.Go(func() { errs <- f.svc.SpendActionConfirmation(ctx, conf(bob, cert("b1"), 6)) })
		}
		wg.Wait()
		close(errs)
		var ok int
		for err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, identity.ErrActionReplayed) {
				t.Fatalf("race: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("one confirmation was accepted %d times", ok)
		}
		// Past its expiry a nonce is deleted by the next confirmation.
		f.clk.add(3 * time.Minute)
		if err := f.svc.SpendActionConfirmation(ctx, conf(alice, cert("a1"), 7)); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM action_nonces`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d nonces kept (%v), want only the newest", n, err)
		}
	})
}
