package web

import (
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/mfa/mfatest"
)

// The software security key lives in mfatest, shared with mfa's tests.
type softKey = mfatest.SoftKey

func newSoftKey(t testing.TB, origin string) *softKey { return mfatest.NewSoftKey(t, origin) }
