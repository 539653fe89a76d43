package web

import (
	"encoding/json"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/mfa/mfatest"
)

// The software security key lives in mfatest, shared with mfa's tests.
type softKey = mfatest.SoftKey

func newSoftKey(t testing.TB, origin string) *softKey { return mfatest.NewSoftKey(t, origin) }

func parseOptions(t testing.TB, raw json.RawMessage) mfatest.Options { return mfatest.ParseOptions(t, raw) }

func b64(b []byte) string { return mfatest.B64(b) }
