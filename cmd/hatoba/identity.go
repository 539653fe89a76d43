package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/breakglass"
	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// identityParts are the identity, authorization, break-glass and audit
// capabilities serve wires into the API and console.
type identityParts struct {
	ids        *identity.Service
	authz      *authz.Authorizer
	certs      api.CertVerifier
	verifier   *pki.Verifier // nil when no trust anchor is configured
	mfa        *mfa.Service
	breakGlass *breakglass.Service
	audit      *audit.Log
	auditKey   audit.Key
}

func buildIdentity(db *store.DB, orgs *org.Registry, cfg config.Config, log *slog.Logger) (*identityParts, error) {
	p, err := buildSignIn(db, orgs, cfg.Identity, log)
	if err != nil {
		return nil, err
	}
	p.breakGlass = breakglass.New(db, p.authz, cfg.Identity.BreakGlassMax, time.Now)
	key, created, err := audit.LoadOrCreateKey(cfg.Audit.SigningKeyFile, cfg.Audit.Origin)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created the audit log's signing key; back it up and keep it off the database's machine",
			"file", cfg.Audit.SigningKeyFile, "verifier_key", key.VerifierKey)
	}
	p.auditKey = key
	p.audit = audit.New(db, key.Signer, log.With("component", "audit"))
	return p, nil
}

// buildSignIn makes what signing people in takes: identity, the decision
// point, the certificate verifier and the security keys, for ic's public
// URL (serve's, or keyd's own console).
func buildSignIn(db *store.DB, orgs *org.Registry, ic config.Identity, log *slog.Logger) (*identityParts, error) {
	p := &identityParts{
		ids: identity.New(db, identity.Options{SessionTTL: ic.SessionTTL, TokenTTL: ic.TokenTTL, InvitationTTL: ic.InvitationTTL}, time.Now),
	}
	p.authz = authz.New(orgs, ic.SecondFactorTTL, time.Now)
	if len(ic.ClientCAFiles) == 0 {
		p.certs = api.NoTrustAnchors{}
		log.Warn("no client CA configured (identity.client_ca_files): nobody can sign in; see docs/identity.md for a trial PKI")
	} else {
		v, err := pki.New(pki.Options{ClientCAFiles: ic.ClientCAFiles, CRLFiles: ic.CRLFiles, OCSP: ic.OCSP,
			RevocationCache: ic.RevocationCache, Logger: log.With("component", "pki")})
		if err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		certs, err := api.NewPKICerts(v, ic.PublicURL)
		if err != nil {
			return nil, err
		}
		p.verifier, p.certs = v, certs
	}
	mcfg, err := mfa.ConfigFor(ic.PublicURL, "hatoba")
	if err != nil {
		return nil, fmt.Errorf("public_url: %w", err)
	}
	if rp := ic.WebAuthnRPID; rp != "" {
		// Browsers accept an RP ID that is the page's host or a domain it
		// lies in.
		if mcfg.RPID != rp && !strings.HasSuffix(mcfg.RPID, "."+rp) {
			return nil, fmt.Errorf("identity.webauthn_rp_id: %q is not %s or a domain it lies in", rp, mcfg.RPID)
		}
		mcfg.RPID = rp
	}
	if p.mfa, err = mfa.New(db, mcfg, time.Now); err != nil {
		return nil, err
	}
	return p, nil
}

// serverTLS returns the TLS configuration serve listens with: the
// configured certificate, or a self-signed one kept in TLSDir for trying
// hatoba on one machine; and, when trust anchors are configured, a request
// for the client's certificate.
func serverTLS(cfg config.Identity, v *pki.Verifier, log *slog.Logger) (*tls.Config, error) {
	certFile, keyFile := cfg.TLSCertFile, cfg.TLSKeyFile
	if certFile == "" && keyFile == "" {
		var err error
		if certFile, keyFile, err = selfSignedServerCert(cfg.TLSDir, cfg.PublicURL, log); err != nil {
			return nil, err
		}
	} else if certFile == "" || keyFile == "" {
		return nil, errors.New("identity: set both tls_cert_file and tls_key_file, or neither")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("identity: server certificate: %w", err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if v != nil {
		v.ConfigureServerTLS(c)
	}
	return c, nil
}

// selfSignedServerCert makes (once) a server certificate for localhost,
// the loopback addresses and the public URL's host.
func selfSignedServerCert(dir, publicURL string, log *slog.Logger) (string, string, error) {
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if _, err := os.Stat(certFile); err == nil {
		return certFile, keyFile, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("identity: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("identity: tls_dir: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "hatoba (self-signed)"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" && u.Hostname() != "localhost" {
		if ip := net.ParseIP(u.Hostname()); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, u.Hostname())
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", fmt.Errorf("identity: %w", err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil { //nolint:gosec // G306: a certificate is public
		return "", "", fmt.Errorf("identity: %w", err)
	}
	log.Warn("created a self-signed server certificate; configure identity.tls_cert_file for real use", "file", certFile)
	return certFile, keyFile, nil
}

// cmdPersonInvite runs `hatoba person invite`: on the server's own machine, with
// the database, it invites a person — how the first central operator
// comes to be. Everyone after that is invited through the console or API.
func cmdPersonInvite(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	role := fs.String("role", "", "central-operator, central-auditor, tenant-admin or tenant-member")
	name := fs.String("name", "", "the person's name as colleagues know it")
	orgID := fs.String("org", "", "the organisation of a tenant role")
	email := fs.String("email", "", "e-mail address (optional)")
	certFile := fs.String("cert", "", "bind this PEM certificate to the person at once instead of printing an invitation link (for the first operator on a server without a browser, and for trials)")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		if *role == "" || *name == "" {
			return usageError{"person invite needs --role and --name"}
		}
		cfg, err := loadConfig(sf)
		if err != nil {
			return err
		}
		db, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer db.Close()
		if v, err := db.SchemaVersion(ctx); err != nil || v != store.Latest() {
			return fmt.Errorf("the database is at schema %d, this hatoba needs %d: run `hatoba migrate` first", v, store.Latest())
		}
		ids := identity.New(db, identity.Options{InvitationTTL: cfg.Identity.InvitationTTL}, time.Now)
		inv := identity.Invitation{Role: authz.Role(*role), OrgID: *orgID, DisplayName: *name, Email: *email}
		if *certFile != "" {
			cert, err := readCertificate(*certFile)
			if err != nil {
				return err
			}
			d := pki.Describe(cert)
			p, err := ids.BootstrapBound(ctx, inv, identity.Certificate{IssuerDN: d.IssuerDN, Serial: d.Serial, SPKISHA256: d.SPKISHA256,
				SubjectDN: d.SubjectDN, NotAfter: d.NotAfter})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "added %s (%s) as %s, signing in with the certificate %s (serial %s)\n", p.DisplayName, p.ID, p.Role, *certFile, d.Serial)
			return nil
		}
		p, token, err := ids.Bootstrap(ctx, inv)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "invited %s (%s) as %s\n", p.DisplayName, p.ID, p.Role)
		fmt.Fprintf(stdout, "send this one-time link; it is shown only now and expires in %s:\n%s/invitations/%s\n",
			cfg.Identity.InvitationTTL, strings.TrimRight(cfg.Identity.PublicURL, "/"), token)
		return nil
	}
}

// readCertificate reads the first certificate of a PEM file.
func readCertificate(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("certificate %s: no PEM CERTIFICATE block", path)
		}
		if block.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate %s: %w", path, err)
			}
			return c, nil
		}
	}
}
