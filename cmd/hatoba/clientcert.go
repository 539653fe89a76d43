package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"

	"github.com/spf13/pflag"
)

// clientCertFlags give the CLI a TLS client certificate, for a key
// service that requires one of every client (keyd.client_ca_files: mutual
// TLS), such as a custodian's unseal.
type clientCertFlags struct{ certFile, keyFile *string }

func addClientCertFlags(fs *pflag.FlagSet) clientCertFlags {
	return clientCertFlags{
		certFile: fs.String("cert-file", os.Getenv("HATOBA_CLIENT_CERT"), "PEM client certificate (chain) to present to a server that requires one ($HATOBA_CLIENT_CERT)"),
		keyFile:  fs.String("key-file", os.Getenv("HATOBA_CLIENT_KEY"), "PEM private key of --cert-file ($HATOBA_CLIENT_KEY)"),
	}
}

// apply makes c present the certificate.
func (f clientCertFlags) apply(c *client) error {
	if *f.certFile == "" && *f.keyFile == "" {
		return nil
	}
	if *f.certFile == "" || *f.keyFile == "" {
		return usageError{"a client certificate needs both --cert-file and --key-file"}
	}
	pair, err := tls.LoadX509KeyPair(*f.certFile, *f.keyFile)
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	t, ok := c.http.Transport.(*http.Transport)
	if !ok {
		return fmt.Errorf("client certificate: unexpected transport %T", c.http.Transport)
	}
	t.TLSClientConfig.Certificates = []tls.Certificate{pair}
	return nil
}
