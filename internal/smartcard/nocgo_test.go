//go:build !cgo

package smartcard_test

import (
	"errors"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/smartcard"
)

func TestOpenWithoutCgo(t *testing.T) {
	t.Parallel()
	if _, err := smartcard.Open(smartcard.Options{}); !errors.Is(err, smartcard.ErrNoCgo) {
		t.Fatalf("err = %v, want ErrNoCgo", err)
	}
}
