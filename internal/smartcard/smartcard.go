// Package smartcard signs hatoba's login challenge, and the statements
// that confirm single actions (docs/keys.md), with the private key on a
// smart card (the My Number Card, through OpenSC's PKCS#11 module) or any
// PKCS#11 token (SoftHSM2 in tests). The signature schemes are pki's
// (pki.SignLogin, pki.SignAction), so the server checks them with
// pki.VerifyLoginSignature and pki.VerifyActionSignature.
//
// The package needs cgo (PKCS#11 modules are C libraries); built without
// it, Open returns ErrNoCgo.
package smartcard

import (
	"errors"
	"fmt"
	"log/slog"
)

// Options says which module, token and key to use.
type Options struct {
	// ModulePath is the PKCS#11 module: OpenSC's opensc-pkcs11.so for
	// real cards, libsofthsm2.so in tests.
	ModulePath string
	// TokenLabel or SlotNumber chooses the token; set exactly one.
	TokenLabel string
	SlotNumber *int
	// PIN logs in to the token. It is never logged or printed: Options
	// formats it as "[redacted]" (String, GoString, LogValue).
	PIN string
	// KeyLabel and/or KeyID (CKA_LABEL, CKA_ID) choose the private key;
	// both empty means the token's only key pair.
	KeyLabel string
	KeyID    []byte
}

// String keeps the PIN out of fmt's %v and %s.
func (o Options) String() string {
	slot := "none"
	if o.SlotNumber != nil {
		slot = fmt.Sprint(*o.SlotNumber)
	}
	return fmt.Sprintf("{ModulePath:%s TokenLabel:%q SlotNumber:%s PIN:%s KeyLabel:%q KeyID:%x}",
		o.ModulePath, o.TokenLabel, slot, redacted(o.PIN), o.KeyLabel, o.KeyID)
}

// GoString keeps the PIN out of fmt's %#v.
func (o Options) GoString() string { return "smartcard.Options" + o.String() }

// LogValue keeps the PIN out of slog.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("module", o.ModulePath), slog.String("token", o.TokenLabel),
		slog.Any("slot", o.SlotNumber), slog.String("pin", redacted(o.PIN)),
		slog.String("key_label", o.KeyLabel), slog.String("key_id", fmt.Sprintf("%x", o.KeyID)))
}

func redacted(pin string) string {
	if pin == "" {
		return "(none)"
	}
	return "[redacted]"
}

// The errors Open, Certificate and Sign return, wrapped with detail. Their
// text is meant for the person at the CLI, in English.
var (
	ErrNoCgo          = errors.New("smartcard: this hatoba was built without cgo, so it cannot use a smart card")
	ErrModuleNotFound = errors.New("smartcard: the PKCS#11 module was not found (install OpenSC, or give the module's path)")
	ErrTokenNotFound  = errors.New("smartcard: no card found: insert the card into the reader, or check the token label or slot number")
	ErrWrongPIN       = errors.New("smartcard: the card refused the PIN. Cards lock after a few wrong tries (a My Number Card's authentication PIN after 3), so check the PIN before trying again")
	ErrPINLocked      = errors.New("smartcard: the card's PIN is locked after too many wrong tries; it must be reset (for a My Number Card, at your municipal office)")
	ErrKeyNotFound    = errors.New("smartcard: no matching private key on the card")
	ErrAmbiguousKey   = errors.New("smartcard: the card holds several keys; choose one by label or ID")
	ErrNoCertificate  = errors.New("smartcard: no certificate for the key was found on the card")
	ErrCardRemoved    = errors.New("smartcard: the card was removed or the reader disconnected; insert it and try again")
	ErrInUse          = errors.New("smartcard: this token is already open in this program; close it first")
	ErrClosed         = errors.New("smartcard: the card is closed")
	ErrInvalidOptions = errors.New("smartcard: invalid options")
)
