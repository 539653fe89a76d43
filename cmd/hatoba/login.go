package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/smartcard"
)

// defaultServer is where the CLI looks for hatoba when told nothing.
const defaultServer = "https://localhost:8443"

// clientFlags are the flags of every subcommand that talks to a server.
type clientFlags struct {
	server, serverCA *string
}

func addClientFlags(fs *pflag.FlagSet) clientFlags {
	return clientFlags{
		server:   fs.String("server", "", "hatoba server URL (default $HATOBA_SERVER or "+defaultServer+")"),
		serverCA: fs.String("server-ca", "", "PEM file of the CA (or self-signed certificate) the server's certificate chains to (default $HATOBA_SERVER_CA, or ./hatoba-tls/server.pem when it exists)"),
	}
}

// newClient makes the API client: the server's address, the trust for its
// certificate, and the signed-in person's token.
func newClient(f clientFlags) (*client, error) {
	server := firstNonEmpty(*f.server, os.Getenv("HATOBA_SERVER"), defaultServer)
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Sprintf("--server %q is not an http(s) URL", server)}
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	caFile := firstNonEmpty(*f.serverCA, os.Getenv("HATOBA_SERVER_CA"))
	if caFile == "" {
		if _, err := os.Stat(filepath.Join("hatoba-tls", "server.pem")); err == nil {
			caFile = filepath.Join("hatoba-tls", "server.pem")
		}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile) //nolint:gosec // G703: the CA file the person names on the command line
		if err != nil {
			return nil, fmt.Errorf("server CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("server CA %s holds no PEM certificate", caFile)
		}
		tlsConfig.RootCAs = pool
	}
	c := &client{base: strings.TrimRight(server, "/"),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig, Proxy: http.ProxyFromEnvironment}}}
	c.token = os.Getenv("HATOBA_TOKEN")
	if c.token == "" {
		if saved, err := loadToken(); err == nil && saved.Server == c.base && time.Now().Before(saved.ExpiresAt) {
			c.token = saved.Token
		}
	}
	return c, nil
}

// savedToken is what `hatoba login` leaves for the other subcommands: a
// token that dies within minutes, never a lasting secret.
type savedToken struct {
	Server    string    `json:"server"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	PersonID  string    `json:"person_id"`
}

func tokenPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	return filepath.Join(dir, "hatoba", "token.json"), nil
}

func loadToken() (savedToken, error) {
	p, err := tokenPath()
	if err != nil {
		return savedToken{}, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return savedToken{}, err
	}
	var t savedToken
	if err := json.Unmarshal(b, &t); err != nil {
		return savedToken{}, fmt.Errorf("token file %s: %w", p, err)
	}
	return t, nil
}

func storeToken(t savedToken) (string, error) {
	p, err := tokenPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	b, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	return p, nil
}

// cmdLogin signs a server challenge with the card's key through PKCS#11
// and keeps the short-lived token it gets.
func cmdLogin(fs *pflag.FlagSet) runFunc {
	cf := addClientFlags(fs)
	module := fs.String("pkcs11-module", firstNonEmpty(os.Getenv("HATOBA_PKCS11_MODULE"), "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"),
		"PKCS#11 module of the card reader (OpenSC's for the My Number Card; $HATOBA_PKCS11_MODULE)")
	tokenLabel := fs.String("token-label", os.Getenv("HATOBA_PKCS11_TOKEN"), "label of the card's token ($HATOBA_PKCS11_TOKEN)")
	keyLabel := fs.String("key-label", os.Getenv("HATOBA_PKCS11_KEY"), "label of the authentication key (default: the token's only key)")
	pinEnv := fs.String("pin-env", "HATOBA_PIN", "environment variable holding the PIN; without it the PIN is read from standard input")
	certFile := fs.String("cert-file", "", "trials and tests only: a PEM certificate whose key is in --key-file instead of on a card")
	keyFile := fs.String("key-file", "", "trials and tests only: the PEM private key of --cert-file (a card's key never leaves the card)")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		if (*certFile == "") != (*keyFile == "") {
			return usageError{"login needs both --cert-file and --key-file, or neither (then the card)"}
		}
		if *certFile != "" {
			c, err := newClient(cf)
			if err != nil {
				return err
			}
			pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if err != nil {
				return fmt.Errorf("login: %w", err)
			}
			signer, ok := pair.PrivateKey.(crypto.Signer)
			if !ok {
				return fmt.Errorf("login: the key in %s cannot sign", *keyFile)
			}
			return finishLogin(ctx, c, pair.Certificate[0], func(audience string, nonce []byte) ([]byte, error) {
				return pki.SignLogin(signer, audience, nonce)
			}, stdout)
		}
		if *tokenLabel == "" {
			return usageError{"login needs --token-label (or HATOBA_PKCS11_TOKEN): the label of the card's token, as `pkcs11-tool --list-slots` shows it"}
		}
		c, err := newClient(cf)
		if err != nil {
			return err
		}
		pin := os.Getenv(*pinEnv)
		if pin == "" {
			fmt.Fprint(stderr, "PIN: ")
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read PIN: %w", err)
			}
			pin = strings.TrimRight(line, "\r\n")
		}
		card, err := smartcard.Open(smartcard.Options{ModulePath: *module, TokenLabel: *tokenLabel, PIN: pin, KeyLabel: *keyLabel})
		if err != nil {
			return err
		}
		defer card.Close() //nolint:errcheck // ends the card session; nothing to act on
		cert, err := card.Certificate()
		if err != nil {
			return err
		}
		return finishLogin(ctx, c, cert.Raw, card.Sign, stdout)
	}
}

// finishLogin asks for a challenge, has sign sign it and trades it for a
// token, which it keeps for the other subcommands.
func finishLogin(ctx context.Context, c *client, certDER []byte, sign func(audience string, nonce []byte) ([]byte, error), stdout io.Writer) error {
	audience, err := pki.LoginAudience(c.base)
	if err != nil {
		return err
	}
	var ch identity.Challenge
	if _, err := c.do(ctx, "POST", "/api/v1/auth/challenge", nil, nil, &ch); err != nil {
		return err
	}
	sig, err := sign(audience, ch.Nonce)
	if err != nil {
		return err
	}
	var tr api.TokenResponse
	req := api.TokenRequest{ChallengeID: ch.ID, CertificateChain: []string{base64.StdEncoding.EncodeToString(certDER)},
		Signature: base64.StdEncoding.EncodeToString(sig)}
	if _, err := c.do(ctx, "POST", "/api/v1/auth/token", req, nil, &tr); err != nil {
		if strings.Contains(err.Error(), "bad_login_signature") {
			// The signature covers the server's address: the likeliest
			// cause is a --server other than the one hatoba calls itself.
			return fmt.Errorf("login refused: %w\n(the signature names %s; if hatoba's identity.public_url is another address, use that as --server)", err, audience)
		}
		return fmt.Errorf("login refused: %w", err)
	}
	exp, err := time.Parse(time.RFC3339, tr.ExpiresAt)
	if err != nil {
		return fmt.Errorf("login: unexpected expiry %q", tr.ExpiresAt)
	}
	path, err := storeToken(savedToken{Server: c.base, Token: tr.Token, ExpiresAt: exp, PersonID: tr.Person.ID})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed in as %s (%s, %s) until %s; token in %s\n", tr.Person.DisplayName, tr.Person.ID, tr.Person.Role,
		exp.Local().Format("15:04"), path)
	return nil
}

// cmdLogout revokes the saved token and removes it.
func cmdLogout(flags *pflag.FlagSet) runFunc {
	cf := addClientFlags(flags)
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		c, err := newClient(cf)
		if err != nil {
			return err
		}
		if c.token != "" {
			if _, err := c.do(ctx, "POST", "/api/v1/auth/logout", nil, nil, nil); err != nil {
				fmt.Fprintf(stderr, "hatoba: the server did not confirm: %v\n", err)
			}
		}
		if p, err := tokenPath(); err == nil {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		fmt.Fprintln(stdout, "signed out")
		return nil
	}
}
