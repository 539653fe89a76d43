//go:build !cgo

package smartcard

import "crypto/x509"

// Card is an open token; without cgo there is none.
type Card struct{}

// Open reports ErrNoCgo: PKCS#11 modules are C libraries.
func Open(Options) (*Card, error) { return nil, ErrNoCgo }

// Certificate reports ErrNoCgo.
func (*Card) Certificate() (*x509.Certificate, error) { return nil, ErrNoCgo }

// Sign reports ErrNoCgo.
func (*Card) Sign(string, []byte) ([]byte, error) { return nil, ErrNoCgo }

// SignAction reports ErrNoCgo.
func (*Card) SignAction([]byte) ([]byte, error) { return nil, ErrNoCgo }

// Close does nothing.
func (*Card) Close() error { return nil }
