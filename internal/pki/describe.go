package pki

import "crypto/x509"

// Describe names c the way Verify does, without judging it: for matching a
// connection's certificate against the one a session was opened with,
// after the handshake has proved the client holds its key.
func Describe(c *x509.Certificate) Identity { return identityOf(c) }
