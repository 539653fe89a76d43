package smartcard_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/smartcard"
)

func TestOptionsNeverShowThePIN(t *testing.T) {
	t.Parallel()
	const pin = "80417263"
	slot := 3
	o := smartcard.Options{ModulePath: "/usr/lib/opensc-pkcs11.so", TokenLabel: "JPKI", SlotNumber: &slot, PIN: pin, KeyLabel: "auth", KeyID: []byte{1}}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("opening", "card", o)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("opening", "card", o)
	for _, out := range []string{
		fmt.Sprint(o), fmt.Sprintf("%v %+v %s %#v", o, o, o, o), fmt.Sprintf("%v", &o), fmt.Sprintf("%+v", []smartcard.Options{o}), logged.String(),
	} {
		if strings.Contains(out, pin) {
			t.Fatalf("the PIN shows in %q", out)
		}
		if !strings.Contains(out, "[redacted]") || !strings.Contains(out, "JPKI") {
			t.Fatalf("%q does not show the options with the PIN redacted", out)
		}
	}
}
