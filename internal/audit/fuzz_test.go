package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// fuzzSeeds makes a real bundle and checkpoint to start the fuzzers from.
func fuzzSeeds(f *testing.F) (bundle, checkpoint []byte, key audit.Key) {
	db := storetest.Open(f, store.SQLite)
	key = newKey(f)
	l := filledLog(f, db, key, 20)
	b, err := l.Bundle(context.Background(), audit.Filter{OrgIDs: []string{"lg-131016"}, Limit: 3})
	if err != nil {
		f.Fatal(err)
	}
	bundle, err = json.Marshal(b)
	if err != nil {
		f.Fatal(err)
	}
	return bundle, []byte(b.Checkpoint), key
}

// FuzzParseBundle feeds arbitrary bytes to ParseBundle and VerifyBundle,
// which read files tenants bring: they must not panic, must fail only with
// Invalid errors, and must accept only bundles whose every entry the key's
// checkpoint covers.
func FuzzParseBundle(f *testing.F) {
	bundle, _, key := fuzzSeeds(f)
	f.Add(bundle)
	f.Add([]byte(`{"checkpoint":"","entries":[]}`))
	f.Add([]byte(`{"checkpoint":"x\n1\nAAAA\n\n— x AAAA\n","entries":[{"seq":18446744073709551615,"proof":["00"]}]}`))
	f.Add([]byte(`{"entries":[{"at":"0001-01-01T00:00:00Z","details":"{}","leaf_hash":""}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := audit.ParseBundle(data)
		if err != nil {
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("ParseBundle error %v is not Invalid", err)
			}
			return
		}
		err = audit.VerifyBundle(b, key.VerifierKey)
		if err != nil {
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("VerifyBundle error %v is not Invalid", err)
			}
			return
		}
		if _, err := audit.ParseCheckpoint([]byte(b.Checkpoint), key.Verifier); err != nil {
			t.Fatalf("a verified bundle's checkpoint does not parse: %v", err)
		}
	})
}

// FuzzParseCheckpoint feeds arbitrary bytes to ParseCheckpoint (a saved
// checkpoint file): no panic, Invalid errors only, and what it accepts is a
// checkpoint of the key's origin whose text it read back exactly.
func FuzzParseCheckpoint(f *testing.F) {
	_, cp, key := fuzzSeeds(f)
	f.Add(cp)
	f.Add([]byte(strings.Replace(string(cp), "\n20\n", "\n020\n", 1)))
	f.Add([]byte(testOrigin + "\n1\n\n\n— " + testOrigin + " AAAAAA==\n"))
	f.Add([]byte("\n\n\n\n"))
	f.Add([]byte(testOrigin + "\n18446744073709551616\nAAAA\nextension\n\n— x YWJjZGU=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := audit.ParseCheckpoint(data, key.Verifier)
		if err != nil {
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("error %v is not Invalid", err)
			}
			return
		}
		want := fmt.Sprintf("%s\n%d\n", testOrigin, c.Size)
		if c.Origin != testOrigin || len(c.Root) != 32 || !bytes.HasPrefix(data, []byte(want)) || !bytes.Equal(c.Note, data) {
			t.Fatalf("accepted %q as %+v", data, c)
		}
	})
}

// FuzzParseVerifierKey: the key an auditor passes on the command line.
func FuzzParseVerifierKey(f *testing.F) {
	f.Add(newKey(f).VerifierKey)
	f.Add("a+00000000+AQ==")
	f.Add("+++")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := audit.ParseVerifierKey(s)
		if err == nil && (v.Name() == "" || strings.Contains(v.Name(), "+")) {
			t.Fatalf("accepted %q with name %q", s, v.Name())
		}
	})
}
