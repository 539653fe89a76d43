package keys

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// TestNoMaterialInLogsOrErrors runs every operation, failing ones
// included, and looks for the master key and every tenant key version —
// raw, hex or base64 — in the log, the errors, the returned values and the
// audit log.
func TestNoMaterialInLogsOrErrors(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	s, shares, _, logs := newSplit(t, db, 0)
	var seen strings.Builder
	note := func(v ...any) {
		for _, x := range v {
			fmt.Fprintf(&seen, "%+v\n", x)
		}
	}
	k, err := s.CreateKey(ctxBg, owner, "org-a", KeySpec{ID: "k"})
	note(k, err)
	r, err := s.Rotate(ctxBg, owner, "org-a", "k")
	note(r, err)
	c, err := s.Encrypt(ctxBg, "org-a", "k", []byte("p"), nil)
	note(c, err)
	bad := c
	bad.Tag = bytes.Clone(c.Tag)
	bad.Tag[0] ^= 1
	_, err = s.Decrypt(ctxBg, "org-a", "k", bad, nil)
	note(err)
	dk, err := s.GenerateDataKey(ctxBg, "org-a", "k", 32, nil)
	note(dk.Encrypted, err)
	_, err = s.SetUsage(ctxBg, owner, "org-a", "k", UsageDecryptOnly)
	note(err)
	_, err = s.Encrypt(ctxBg, "org-a", "k", []byte("p"), nil)
	note(err)
	note(s.Kill(ctxBg, owner, "org-a"))
	_, err = s.Decrypt(ctxBg, "org-a", "k", c, nil)
	note(err)
	note(s.Revive(ctxBg, owner, "org-a"))
	st, err := s.Status(ctxBg)
	note(st, err)

	// Stored material that does not unwrap (tampered storage) is reported
	// without its bytes.
	if _, err := db.ExecContext(ctxBg, `UPDATE tenant_key_versions SET wrapped = $1 WHERE version = 1`, bytes.Repeat([]byte{0xaa}, 60)); err != nil {
		t.Fatal(err)
	}
	v1 := c
	v1.Metadata = metadataOf(1)
	s2 := New(db, Options{Logger: s.log})
	for _, sh := range shares[2:] {
		_, err := s2.SubmitShare(ctxBg, custodian, sh)
		note(err)
	}
	_, err = s2.Decrypt(ctxBg, "org-a", "k", v1, nil)
	note(err)
	if !errors.Is(err, ErrStoredMaterial) {
		t.Fatalf("tampered material: %v", err)
	}

	// The secrets, read the way only this package can.
	mk, _, err := s.masterOrSealed()
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{"master key": bytes.Clone(mk.(*softKey).raw), "data key": dk.Plaintext}
	material, err := s.unwrapVersion(t, "org-a", "k", 2)
	if err != nil {
		t.Fatal(err)
	}
	secrets["key version 2"] = material
	note(s.Seal(ctxBg, owner))

	var audit strings.Builder
	rows, err := db.QueryContext(ctxBg, `SELECT actor, action, org_id, target, details FROM audit_queue`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, b, c, d, e string
		if err := rows.Scan(&a, &b, &c, &d, &e); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&audit, a, b, c, d, e)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	for name, secret := range secrets {
		if len(secret) != 32 || bytes.Equal(secret, make([]byte, 32)) {
			t.Fatalf("%s: not a key (%d bytes)", name, len(secret))
		}
		for where, text := range map[string]string{"log": logs.String(), "errors and values": seen.String(), "audit log": audit.String()} {
			if form := leaks(text, secret); form != "" {
				t.Errorf("the %s appears (%s) in the %s", name, form, where)
			}
		}
	}
	if !strings.Contains(logs.String(), "key created") {
		t.Fatal("the log is empty: the test would prove nothing")
	}
}

// unwrapVersion reads and unwraps one key version with the master key.
func (s *Service) unwrapVersion(t *testing.T, org, keyID string, v int) ([]byte, error) {
	t.Helper()
	var wrapped []byte
	if err := s.db.QueryRowContext(ctxBg, `SELECT wrapped FROM tenant_key_versions WHERE org_id = $1 AND key_id = $2 AND version = $3`, org, keyID, v).Scan(&wrapped); err != nil {
		return nil, err
	}
	return s.master.unwrap(wrapped, wrapAAD(org, keyID, v))
}
