// Command testpki writes a throwaway PKI to a directory, for trying
// hatoba's certificate login by hand:
//
//	go run ./scripts/testpki -out ./hatoba-testpki
//
// It writes ca.pem (the root and the client CA: hatoba's
// identity.client_ca_files), crl.pem (their CRLs: identity.crl_files),
// client.pem and client-key.pem (a valid RSA 2048 client certificate, like
// a My Number Card's), and one <case>.pem / <case>-key.pem pair for every
// case hatoba refuses (expired, revoked, untrusted, ...). The generator is
// internal/pki/pkitest, the same one the tests use.
//
// client.p12 holds client.pem, its key and its issuer for a browser to
// import (an empty password; go-pkcs12's Modern2023 encoding: AES-256 and
// PBKDF2, which current browsers and operating systems read).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testpki:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("testpki", flag.ContinueOnError)
	out := fs.String("out", "", "directory to write the PKI to (created if missing)")
	crlValidity := fs.Duration("crl-validity", 365*24*time.Hour, "how long the written CRLs stay current; hatoba refuses logins once they are out of date")
	leafValidity := fs.Duration("leaf-validity", 365*24*time.Hour, "validity of the client certificates")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out DIR is required")
	}
	p, err := pkitest.Generate(pkitest.Options{
		// RSA throughout, as in the national PKI; no CRL distribution
		// point or OCSP responder, since nothing serves them: hatoba
		// reads the revocations from crl.pem.
		CAKey:        pkitest.RSA2048,
		CRLValidity:  *crlValidity,
		LeafValidity: *leafValidity,
	})
	if err != nil {
		return err
	}
	files, err := p.WriteFiles(*out)
	if err != nil {
		return err
	}
	leaf := p.ValidRSA // client.pem
	p12, err := pkcs12.Modern2023.Encode(leaf.Key, leaf.Cert, leaf.Chain[1:], "")
	if err != nil {
		return fmt.Errorf("client.p12: %w", err)
	}
	if err := os.WriteFile(filepath.Join(files.Dir, "client.p12"), p12, 0o600); err != nil {
		return err
	}
	dir, err := filepath.Abs(files.Dir)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, `Test PKI written to %[1]s (CRLs current until %[2]s).

Configure hatoba with:
  identity:
    client_ca_files: [%[1]s/ca.pem]
    crl_files: [%[1]s/crl.pem]

Sign in with client.pem and client-key.pem (hatoba login --cert-file
--key-file). For a browser, import %[1]s/client.p12 (the same certificate
and key; the password is empty).

Each refused case has its own pair, <case>.pem and <case>-key.pem:
  %[3]s, %[4]s, %[5]s, %[6]s, %[7]s,
  %[8]s, %[9]s, %[10]s, %[11]s.
`, dir, p.Now.Add(*crlValidity).Format(time.RFC3339),
		pkitest.NameExpired, pkitest.NameNotYetValid, pkitest.NameRevoked, pkitest.NameUntrusted, pkitest.NameImpostor,
		pkitest.NameKeyEncipherment, pkitest.NameServerAuth, pkitest.NameCACert, pkitest.NameRevokedIssuer)
	return err
}
