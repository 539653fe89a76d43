package main

import (
	"bufio"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/smartcard"
)

// cardFlags choose the card that confirms actions: the same flags, and
// the same environment variables, as hatoba login.
type cardFlags struct {
	module, tokenLabel, keyLabel, pinEnv, certFile, keyFile *string
}

func addCardFlags(fs *pflag.FlagSet) cardFlags {
	return cardFlags{
		module: fs.String("pkcs11-module", firstNonEmpty(os.Getenv("HATOBA_PKCS11_MODULE"), "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"),
			"PKCS#11 module of the card reader ($HATOBA_PKCS11_MODULE)"),
		tokenLabel: fs.String("token-label", os.Getenv("HATOBA_PKCS11_TOKEN"), "label of the card's token ($HATOBA_PKCS11_TOKEN)"),
		keyLabel:   fs.String("key-label", os.Getenv("HATOBA_PKCS11_KEY"), "label of the authentication key (default: the token's only key)"),
		pinEnv:     fs.String("pin-env", "HATOBA_PIN", "environment variable holding the PIN; without it the PIN is read from standard input"),
		certFile:   fs.String("cert-file", "", "trials and tests only: a PEM certificate whose key is in --key-file instead of on a card"),
		keyFile:    fs.String("key-file", "", "trials and tests only: the PEM private key of --cert-file"),
	}
}

// actionSigner confirms single API requests with the card (docs/keys.md,
// "Confirming an action with the card"). The card is opened, and the PIN
// asked for, at the first request that needs it.
type actionSigner struct {
	f      cardFlags
	cmd    string // for messages: "key create"
	stdin  io.Reader
	stderr io.Writer

	card *smartcard.Card
	cert []byte
	sign func(statement []byte) ([]byte, error)
}

// open gets the card (or the key file) ready to sign.
func (a *actionSigner) open() error {
	if a.sign != nil {
		return nil
	}
	f := a.f
	if (*f.certFile == "") != (*f.keyFile == "") {
		return usageError{a.cmd + " needs both --cert-file and --key-file, or neither (then the card)"}
	}
	if *f.certFile != "" {
		pair, err := tls.LoadX509KeyPair(*f.certFile, *f.keyFile)
		if err != nil {
			return fmt.Errorf("%s: %w", a.cmd, err)
		}
		signer, ok := pair.PrivateKey.(crypto.Signer)
		if !ok {
			return fmt.Errorf("%s: the key in %s cannot sign", a.cmd, *f.keyFile)
		}
		a.cert = pair.Certificate[0]
		a.sign = func(st []byte) ([]byte, error) { return pki.SignAction(signer, st) }
		return nil
	}
	if *f.tokenLabel == "" {
		return usageError{a.cmd + " is confirmed with your card: give --token-label (or HATOBA_PKCS11_TOKEN), the label `pkcs11-tool --list-slots` shows"}
	}
	pin := os.Getenv(*f.pinEnv)
	if pin == "" {
		fmt.Fprint(a.stderr, "PIN (to confirm "+a.cmd+" with the card): ")
		line, err := bufio.NewReader(a.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read PIN: %w", err)
		}
		pin = strings.TrimRight(line, "\r\n")
	}
	card, err := smartcard.Open(smartcard.Options{ModulePath: *f.module, TokenLabel: *f.tokenLabel, PIN: pin, KeyLabel: *f.keyLabel})
	if err != nil {
		return err
	}
	cert, err := card.Certificate()
	if err != nil {
		_ = card.Close()
		return err
	}
	a.card, a.cert, a.sign = card, cert.Raw, card.SignAction
	return nil
}

// header returns the Hatoba-Action-Signature value confirming method on
// server+path with exactly body.
func (a *actionSigner) header(server, method, path string, body []byte) (string, error) {
	if err := a.open(); err != nil {
		return "", err
	}
	u, err := url.Parse(server + path)
	if err != nil {
		return "", err
	}
	// The request-target as the HTTP client will write it.
	st, err := pki.NewActionStatement(server, method, u.RequestURI(), body, time.Now())
	if err != nil {
		return "", err
	}
	raw, err := st.Marshal()
	if err != nil {
		return "", err
	}
	sig, err := a.sign(raw)
	if err != nil {
		return "", err
	}
	return pki.FormatActionHeader(raw, sig, a.cert), nil
}

func (a *actionSigner) close() {
	if a.card != nil {
		_ = a.card.Close()
	}
}
