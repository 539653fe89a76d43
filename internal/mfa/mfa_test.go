package mfa_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

const (
	testRPID   = "console.hatoba.example"
	testOrigin = "https://console.hatoba.example"
)

// clock is the injected clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	t     *testing.T
	db    *store.DB
	svc   *mfa.Service
	clock *clock
}

func newHarness(t *testing.T, db *store.DB) *harness {
	t.Helper()
	c := &clock{t: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
	svc, err := mfa.New(db, mfa.Config{RPID: testRPID, RPDisplayName: "hatoba test", Origins: []string{testOrigin}, Timeout: time.Minute}, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, db: db, svc: svc, clock: c}
}

// person stores a person row (the credentials reference it) and returns them.
func (h *harness) person(id string) mfa.Person {
	h.t.Helper()
	_, err := h.db.ExecContext(context.Background(), `INSERT INTO people (id, role, display_name, state, created_at, updated_at)
		VALUES ($1, 'central-operator', $2, 'active', $3, $3)`, id, "Name of "+id, h.clock.Now())
	if err != nil {
		h.t.Fatalf("insert person %s: %v", id, err)
	}
	return mfa.Person{ID: id, Name: id + "@example.jp", DisplayName: "Name of " + id}
}

// register adds key to p and returns the stored credential.
func (h *harness) register(p mfa.Person, key *softKey, name string) mfa.Credential {
	h.t.Helper()
	ctx := context.Background()
	id, opts, err := h.svc.BeginRegistration(ctx, p)
	if err != nil {
		h.t.Fatalf("begin registration: %v", err)
	}
	c, err := h.svc.FinishRegistration(ctx, p, id, key.Create(opts), name, nil)
	if err != nil {
		h.t.Fatalf("finish registration: %v", err)
	}
	return c
}

// assert runs a whole assertion with key at the given counter.
func (h *harness) assert(p mfa.Person, key *softKey, counter uint32, also mfa.Also) (mfa.Credential, error) {
	h.t.Helper()
	ctx := context.Background()
	id, opts, err := h.svc.BeginAssertion(ctx, p)
	if err != nil {
		return mfa.Credential{}, err
	}
	key.Counter = counter
	return h.svc.FinishAssertion(ctx, p, id, key.Get(opts), also)
}

func (h *harness) credential(personID, id string) mfa.Credential {
	h.t.Helper()
	cs, err := h.svc.Credentials(context.Background(), personID)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, c := range cs {
		if c.ID == id {
			return c
		}
	}
	h.t.Fatalf("%s has no credential %s (has %v)", personID, id, cs)
	return mfa.Credential{}
}

// wantFault checks err's kind and sentinel.
func wantFault(t *testing.T, err error, kind fault.Kind, sentinel error) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want %s", kind)
	}
	if got := fault.KindOf(err); got != kind {
		t.Fatalf("error kind = %s, want %s: %v", got, kind, err)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("error %v does not wrap %v", err, sentinel)
	}
	if fe, ok := fault.As(err); !ok || fe.Message == "" {
		t.Fatalf("error %v has no message for a person", err)
	}
}

func TestRegisterAndAssert(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		alice := h.person("alice")
		key := newSoftKey(t, testOrigin)

		if has, err := h.svc.HasCredential(ctx, alice.ID); err != nil || has {
			t.Fatalf("HasCredential before registering = %v, %v; want false", has, err)
		}
		var audited []mfa.Credential
		record := func(tx *store.Tx, c mfa.Credential) error {
			// The callback sees the change inside the transaction.
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webauthn_credentials WHERE person_id = $1`, c.PersonID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				t.Errorf("also ran before the credential was stored")
			}
			audited = append(audited, c)
			return nil
		}

		id, opts, err := h.svc.BeginRegistration(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		o := parseOptions(t, opts)
		if o.PublicKey.RP.ID != testRPID || len(o.PublicKey.ExcludeCredentials) != 0 {
			t.Fatalf("registration options %s", opts)
		}
		key.Counter = 1
		reg, err := h.svc.FinishRegistration(ctx, alice, id, key.Create(opts), "  blue key ", record)
		if err != nil {
			t.Fatal(err)
		}
		if reg.ID != key.ID() || reg.PersonID != "alice" || reg.Name != "blue key" || reg.RPID != testRPID ||
			reg.SignCount != 1 || !reg.UserVerified || reg.CloneWarning || reg.LastUsedAt != nil ||
			!reg.CreatedAt.Equal(h.clock.Now()) || !slices.Equal(reg.Transports, []string{"usb"}) ||
			reg.AAGUID != "00000000-0000-0000-0000-000000000000" || reg.AttestationFormat != "none" {
			t.Fatalf("registered %+v", reg)
		}
		if got := h.credential("alice", key.ID()); got.Name != "blue key" || got.SignCount != 1 || !got.CreatedAt.Equal(reg.CreatedAt) {
			t.Fatalf("stored %+v", got)
		}
		if has, err := h.svc.HasCredential(ctx, alice.ID); err != nil || !has {
			t.Fatalf("HasCredential after registering = %v, %v; want true", has, err)
		}

		// A second registration excludes the key already there.
		_, opts, err = h.svc.BeginRegistration(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if ex := parseOptions(t, opts).PublicKey.ExcludeCredentials; len(ex) != 1 || ex[0].ID != key.ID() {
			t.Fatalf("excludeCredentials = %v, want the registered key", ex)
		}

		h.clock.Advance(time.Hour)
		got, err := h.assert(alice, key, 7, record)
		if err != nil {
			t.Fatal(err)
		}
		if got.SignCount != 7 || got.LastUsedAt == nil || !got.LastUsedAt.Equal(h.clock.Now()) {
			t.Fatalf("asserted %+v", got)
		}
		stored := h.credential("alice", key.ID())
		if stored.SignCount != 7 || stored.LastUsedAt == nil || !stored.LastUsedAt.Equal(h.clock.Now()) {
			t.Fatalf("after assertion stored %+v", stored)
		}
		if len(audited) != 2 || audited[0].ID != key.ID() || audited[1].SignCount != 7 {
			t.Fatalf("also saw %+v", audited)
		}
	})
}

func TestCeremonies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness, p mfa.Person, key *softKey)
	}{
		{"fail/used twice", func(t *testing.T, h *harness, p mfa.Person, key *softKey) {
			ctx := context.Background()
			id, opts, err := h.svc.BeginAssertion(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			key.Counter = 5
			if _, err := h.svc.FinishAssertion(ctx, p, id, key.Get(opts), nil); err != nil {
				t.Fatal(err)
			}
			key.Counter = 6
			_, err = h.svc.FinishAssertion(ctx, p, id, key.Get(opts), nil)
			wantFault(t, err, fault.NotFound, mfa.ErrNoCeremony)
			if c := h.credential(p.ID, key.ID()); c.SignCount != 5 {
				t.Fatalf("sign count %d after the refused replay, want 5", c.SignCount)
			}
		}},
		{"fail/expired", func(t *testing.T, h *harness, p mfa.Person, key *softKey) {
			ctx := context.Background()
			id, opts, err := h.svc.BeginAssertion(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(2 * time.Minute) // timeout 1m plus grace
			key.Counter = 5
			_, err = h.svc.FinishAssertion(ctx, p, id, key.Get(opts), nil)
			wantFault(t, err, fault.Conflict, mfa.ErrCeremonyExpired)
			// The expired ceremony is gone too.
			_, err = h.svc.FinishAssertion(ctx, p, id, key.Get(opts), nil)
			wantFault(t, err, fault.NotFound, mfa.ErrNoCeremony)
		}},
		{"ok/just before expiry", func(t *testing.T, h *harness, p mfa.Person, key *softKey) {
			ctx := context.Background()
			id, opts, err := h.svc.BeginAssertion(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(time.Minute + 10*time.Second)
			key.Counter = 5
			if _, err := h.svc.FinishAssertion(ctx, p, id, key.Get(opts), nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"fail/another person's ceremony", func(t *testing.T, h *harness, p mfa.Person, key *softKey) {
			ctx := context.Background()
			mallory := h.person("mallory")
			id, opts, err := h.svc.BeginAssertion(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			key.Counter = 5
			answer := key.Get(opts)
			_, err = h.svc.FinishAssertion(ctx, mallory, id, answer, nil)
			wantFault(t, err, fault.NotFound, mfa.ErrNoCeremony)
			// Trying did not use up the owner's ceremony.
			if _, err := h.svc.FinishAssertion(ctx, p, id, answer, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"fail/registration ceremony used for assertion", func(t *testing.T, h *harness, p mfa.Person, key *softKey) {
			ctx := context.Background()
			id, _, err := h.svc.BeginRegistration(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			_, opts, err := h.svc.BeginAssertion(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.svc.FinishAssertion(ctx, p, id, key.Get(opts), nil)
			wantFault(t, err, fault.NotFound, mfa.ErrNoCeremony)
		}},
		{"fail/answer to another challenge", func(t *testing.T, h *harness, p mfa.Person, key *softKey) {
			ctx := context.Background()
			id, opts, err := h.svc.BeginAssertion(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			key.Counter = 5
			key.Challenge = b64([]byte("a challenge from another ceremony"))
			_, err = h.svc.FinishAssertion(ctx, p, id, key.Get(opts), nil)
			wantFault(t, err, fault.Forbidden, nil)
			// A failed answer uses the ceremony up all the same.
			key.Challenge = ""
			_, err = h.svc.FinishAssertion(ctx, p, id, key.Get(opts), nil)
			wantFault(t, err, fault.NotFound, mfa.ErrNoCeremony)
		}},
		{"fail/another origin", func(t *testing.T, h *harness, p mfa.Person, key *softKey) {
			ctx := context.Background()
			id, opts, err := h.svc.BeginAssertion(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			key.Counter = 5
			key.Origin = "https://phish.example"
			_, err = h.svc.FinishAssertion(ctx, p, id, key.Get(opts), nil)
			wantFault(t, err, fault.Forbidden, nil)
		}},
		{"fail/confirmation spent on another action", func(t *testing.T, h *harness, p mfa.Person, key *softKey) {
			ctx := context.Background()
			const approveA, approveB = "break-glass/approve/ar-a", "break-glass/approve/ar-b"
			id, opts, err := h.svc.BeginAssertionFor(ctx, p, approveA)
			if err != nil {
				t.Fatal(err)
			}
			key.Counter = 5
			answer := key.Get(opts)
			for _, wrong := range []string{approveB, ""} {
				_, err = h.svc.FinishAssertionFor(ctx, p, wrong, id, answer, nil)
				wantFault(t, err, fault.NotFound, mfa.ErrNoCeremony)
			}
			_, err = h.svc.FinishAssertion(ctx, p, id, answer, nil)
			wantFault(t, err, fault.NotFound, mfa.ErrNoCeremony)
			// Refusals did not use it up: the action it was begun for works.
			if _, err := h.svc.FinishAssertionFor(ctx, p, approveA, id, answer, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"fail/unknown ceremony", func(t *testing.T, h *harness, p mfa.Person, key *softKey) {
			ctx := context.Background()
			_, opts, err := h.svc.BeginAssertion(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.svc.FinishAssertion(ctx, p, "no-such-ceremony", key.Get(opts), nil)
			wantFault(t, err, fault.NotFound, mfa.ErrNoCeremony)
		}},
		{"fail/not an answer", func(t *testing.T, h *harness, p mfa.Person, key *softKey) {
			ctx := context.Background()
			id, _, err := h.svc.BeginAssertion(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.svc.FinishAssertion(ctx, p, id, []byte(`{"id":"x"}`), nil)
			wantFault(t, err, fault.Invalid, nil)
			_, err = h.svc.FinishAssertion(ctx, p, id, nil, nil)
			wantFault(t, err, fault.Invalid, nil)
		}},
		{"ok/old ceremonies are dropped", func(t *testing.T, h *harness, p mfa.Person, key *softKey) {
			ctx := context.Background()
			first, opts, err := h.svc.BeginAssertion(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			for range 8 {
				h.clock.Advance(time.Second)
				if _, _, err := h.svc.BeginAssertion(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			key.Counter = 5
			_, err = h.svc.FinishAssertion(ctx, p, first, key.Get(opts), nil)
			wantFault(t, err, fault.NotFound, mfa.ErrNoCeremony)
			var n int
			if err := h.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webauthn_ceremonies WHERE person_id = $1`, p.ID).Scan(&n); err != nil || n != 8 {
				t.Fatalf("pending ceremonies = %d (%v), want 8", n, err)
			}
		}},
		{"ok/expired ceremonies are swept", func(t *testing.T, h *harness, p mfa.Person, key *softKey) {
			ctx := context.Background()
			if _, _, err := h.svc.BeginAssertion(ctx, p); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(time.Hour)
			if _, _, err := h.svc.BeginRegistration(ctx, p); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := h.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webauthn_ceremonies WHERE person_id = $1`, p.ID).Scan(&n); err != nil || n != 1 {
				t.Fatalf("ceremonies = %d (%v), want only the new one", n, err)
			}
		}},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db)
				p := h.person(fmt.Sprintf("p%d", i))
				key := newSoftKey(t, testOrigin)
				h.register(p, key, "key")
				tt.run(t, h, p, key)
			})
		}
	})
}

func TestCounter(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		ctx := context.Background()

		t.Run("fail/regression blocks the key", func(t *testing.T) {
			p := h.person("carol")
			key := newSoftKey(t, testOrigin)
			key.Counter = 3
			h.register(p, key, "carol's key")
			if _, err := h.assert(p, key, 10, nil); err != nil {
				t.Fatal(err)
			}
			audited := false
			_, err := h.assert(p, key, 10, func(*store.Tx, mfa.Credential) error { audited = true; return nil })
			wantFault(t, err, fault.Forbidden, mfa.ErrPossibleClone)
			if audited {
				t.Fatal("also ran for a refused assertion")
			}
			if fe, _ := fault.As(err); fe == nil || !containsAll(fe.Message, "carol's key", "10", "cloned") {
				t.Fatalf("message %q should name the key, the counters and the suspicion", fe.Message)
			}
			c := h.credential(p.ID, key.ID())
			if !c.CloneWarning || c.SignCount != 10 {
				t.Fatalf("after regression stored %+v", c)
			}
			// Blocked for good, even with a counter that goes up again.
			_, err = h.assert(p, key, 50, nil)
			wantFault(t, err, fault.Forbidden, mfa.ErrPossibleClone)
			if has, err := h.svc.HasCredential(ctx, p.ID); err != nil || !has {
				t.Fatalf("HasCredential with a blocked key = %v, %v; want true", has, err)
			}
		})

		t.Run("fail/blocked key with a usable one beside it", func(t *testing.T) {
			p := h.person("dave")
			good, bad := newSoftKey(t, testOrigin), newSoftKey(t, testOrigin)
			h.register(p, good, "good")
			bad.Counter = 9
			h.register(p, bad, "bad")
			_, err := h.assert(p, bad, 2, nil)
			wantFault(t, err, fault.Forbidden, mfa.ErrPossibleClone)
			// The blocked key is no longer offered; the other still works.
			_, opts, err := h.svc.BeginAssertion(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if allow := parseOptions(t, opts).PublicKey.AllowCredentials; len(allow) != 1 || allow[0].ID != good.ID() {
				t.Fatalf("allowCredentials = %v, want only the good key", allow)
			}
			if _, err := h.assert(p, good, 1, nil); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("ok/keys without a counter", func(t *testing.T) {
			p := h.person("erin")
			key := newSoftKey(t, testOrigin)
			h.register(p, key, "passkey")
			for range 3 {
				if _, err := h.assert(p, key, 0, nil); err != nil {
					t.Fatal(err)
				}
			}
			// Once a key has counted, 0 is a regression.
			if _, err := h.assert(p, key, 4, nil); err != nil {
				t.Fatal(err)
			}
			_, err := h.assert(p, key, 0, nil)
			wantFault(t, err, fault.Forbidden, mfa.ErrPossibleClone)
		})
	})
}

func TestRemove(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		frank, grace := h.person("frank"), h.person("grace")
		k1, k2 := newSoftKey(t, testOrigin), newSoftKey(t, testOrigin)
		h.register(frank, k1, "one")
		h.register(frank, k2, "two")

		boom := errors.New("audit log unavailable")
		err := h.svc.Remove(ctx, frank.ID, k1.ID(), func(*store.Tx, mfa.Credential) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Remove with a failing also = %v, want %v", err, boom)
		}
		h.credential(frank.ID, k1.ID()) // still there

		wantFault(t, h.svc.Remove(ctx, grace.ID, k1.ID(), nil), fault.NotFound, mfa.ErrNoCredential)
		wantFault(t, h.svc.Remove(ctx, frank.ID, "not base64url!", nil), fault.Invalid, nil)

		var removed mfa.Credential
		if err := h.svc.Remove(ctx, frank.ID, k1.ID(), func(_ *store.Tx, c mfa.Credential) error { removed = c; return nil }); err != nil {
			t.Fatal(err)
		}
		if removed.ID != k1.ID() || removed.Name != "one" {
			t.Fatalf("also saw %+v", removed)
		}
		wantFault(t, h.svc.Remove(ctx, frank.ID, k1.ID(), nil), fault.NotFound, mfa.ErrNoCredential)
		cs, err := h.svc.Credentials(ctx, frank.ID)
		if err != nil || len(cs) != 1 || cs[0].ID != k2.ID() {
			t.Fatalf("credentials after removing = %+v, %v", cs, err)
		}
		// The removed key no longer signs in.
		_, opts, err := h.svc.BeginAssertion(ctx, frank)
		if err != nil {
			t.Fatal(err)
		}
		if allow := parseOptions(t, opts).PublicKey.AllowCredentials; len(allow) != 1 || allow[0].ID != k2.ID() {
			t.Fatalf("allowCredentials = %v", allow)
		}
		if err := h.svc.Remove(ctx, frank.ID, k2.ID(), nil); err != nil {
			t.Fatal(err)
		}
		_, _, err = h.svc.BeginAssertion(ctx, frank)
		wantFault(t, err, fault.NotFound, mfa.ErrNoCredential)
		if has, err := h.svc.HasCredential(ctx, frank.ID); err != nil || has {
			t.Fatalf("HasCredential after removing all = %v, %v", has, err)
		}
	})
}

func TestRegistrationRefusals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		p := h.person("heidi")

		t.Run("fail/no such person", func(t *testing.T) {
			_, _, err := h.svc.BeginRegistration(ctx, mfa.Person{ID: "nobody"})
			wantFault(t, err, fault.NotFound, nil)
			_, _, err = h.svc.BeginRegistration(ctx, mfa.Person{})
			wantFault(t, err, fault.Invalid, nil)
		})
		t.Run("fail/assertion without a key", func(t *testing.T) {
			_, _, err := h.svc.BeginAssertion(ctx, p)
			wantFault(t, err, fault.NotFound, mfa.ErrNoCredential)
		})
		t.Run("fail/also fails", func(t *testing.T) {
			key := newSoftKey(t, testOrigin)
			id, opts, err := h.svc.BeginRegistration(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			boom := errors.New("audit log unavailable")
			_, err = h.svc.FinishRegistration(ctx, p, id, key.Create(opts), "k", func(*store.Tx, mfa.Credential) error { return boom })
			if !errors.Is(err, boom) {
				t.Fatalf("FinishRegistration with failing also = %v", err)
			}
			if has, err := h.svc.HasCredential(ctx, p.ID); err != nil || has {
				t.Fatalf("a key was stored although also failed: %v %v", has, err)
			}
		})
		t.Run("fail/bad name keeps the ceremony", func(t *testing.T) {
			key := newSoftKey(t, testOrigin)
			id, opts, err := h.svc.BeginRegistration(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			answer := key.Create(opts)
			_, err = h.svc.FinishRegistration(ctx, p, id, answer, "tab\there", nil)
			wantFault(t, err, fault.Invalid, nil)
			c, err := h.svc.FinishRegistration(ctx, p, id, answer, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != "Security key 2026-04-01" {
				t.Fatalf("default name %q", c.Name)
			}
		})
		t.Run("fail/same key twice", func(t *testing.T) {
			key := newSoftKey(t, testOrigin)
			h.register(p, key, "first")
			id, opts, err := h.svc.BeginRegistration(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			// A browser refuses an excluded key; a forged answer is refused here.
			_, err = h.svc.FinishRegistration(ctx, p, id, key.Create(opts), "again", nil)
			wantFault(t, err, fault.Conflict, nil)
		})
		t.Run("fail/answer for another origin", func(t *testing.T) {
			key := newSoftKey(t, "https://phish.example")
			id, opts, err := h.svc.BeginRegistration(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.svc.FinishRegistration(ctx, p, id, key.Create(opts), "k", nil)
			wantFault(t, err, fault.Invalid, nil)
		})
	})
}

func TestKeyName(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	h := newHarness(t, db)
	p := h.person("ivan")
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"ok/plain", "YubiKey 5", "YubiKey 5", true},
		{"ok/japanese", "予備の鍵", "予備の鍵", true},
		{"ok/trimmed", "  spare \n", "spare", true},
		{"ok/64 characters", string(make64('鍵')), string(make64('鍵')), true},
		{"fail/65 characters", string(make64('鍵')) + "x", "", false},
		{"fail/control character", "a\x00b", "", false},
		{"fail/invalid UTF-8", "a\xffb", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := newSoftKey(t, testOrigin)
			id, opts, err := h.svc.BeginRegistration(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			c, err := h.svc.FinishRegistration(context.Background(), p, id, key.Create(opts), tt.in, nil)
			if !tt.ok {
				wantFault(t, err, fault.Invalid, nil)
				return
			}
			if err != nil || c.Name != tt.want {
				t.Fatalf("name %q → %q, %v; want %q", tt.in, c.Name, err, tt.want)
			}
			if err := h.svc.Remove(context.Background(), p.ID, c.ID, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func make64(r rune) []rune {
	out := make([]rune, 64)
	for i := range out {
		out[i] = r
	}
	return out
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestConfigFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url  string
		rpID, orig string
		ok         bool
	}{
		{"ok/https", "https://console.hatoba.go.jp", "console.hatoba.go.jp", "https://console.hatoba.go.jp", true},
		{"ok/https with path", "https://console.hatoba.go.jp/hatoba/", "console.hatoba.go.jp", "https://console.hatoba.go.jp", true},
		{"ok/default port dropped", "https://console.hatoba.go.jp:443", "console.hatoba.go.jp", "https://console.hatoba.go.jp", true},
		{"ok/other port kept", "https://localhost:8443", "localhost", "https://localhost:8443", true},
		{"ok/http on localhost", "http://localhost:8080", "localhost", "http://localhost:8080", true},
		{"fail/http elsewhere", "http://console.hatoba.go.jp", "", "", false},
		{"fail/ip address", "https://192.0.2.1", "", "", false},
		{"fail/no host", "https:///x", "", "", false},
		{"fail/not a url", "://", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := mfa.ConfigFor(tt.url, "hatoba")
			if !tt.ok {
				wantFault(t, err, fault.Invalid, nil)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.RPID != tt.rpID || !slices.Equal(cfg.Origins, []string{tt.orig}) || cfg.RPDisplayName != "hatoba" {
				t.Fatalf("ConfigFor(%q) = %+v", tt.url, cfg)
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	tests := []struct {
		name string
		cfg  mfa.Config
	}{
		{"fail/no rp id", mfa.Config{Origins: []string{testOrigin}}},
		{"fail/no origin", mfa.Config{RPID: testRPID}},
		{"fail/origin with path", mfa.Config{RPID: testRPID, Origins: []string{testOrigin + "/console"}}},
		{"fail/ip rp id", mfa.Config{RPID: "192.0.2.1", Origins: []string{"https://192.0.2.1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mfa.New(db, tt.cfg, nil)
			wantFault(t, err, fault.Invalid, nil)
		})
	}
}
