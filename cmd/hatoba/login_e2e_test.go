package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
	"github.com/hatoba-cloud/hatoba/internal/smartcard/smartcardtest"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// TestCardLogin is the CLI's sign-in with a smart card: SoftHSM2 holds the
// card's key and certificate, `hatoba login` signs the server's challenge
// through PKCS#11 and keeps a short-lived token the other subcommands use.
// The certificate chain, its revocation (CRL over HTTP) and the binding to
// a person are the server's real checks.
func TestCardLogin(t *testing.T) {
	dir := t.TempDir()
	p, files := pkitest.New(t, pkitest.Options{CAKey: pkitest.RSA2048})
	hsm := smartcardtest.New(t) // sets SOFTHSM2_CONF, which the login subprocess inherits
	const pin = "246810"
	hsm.AddToken("mynumber", pin, smartcardtest.Key{Leaf: p.EmptySubject, Label: "User Authentication Key", ID: []byte{1}})
	hsm.AddToken("revoked", pin, smartcardtest.Key{Leaf: p.Revoked, Label: "auth", ID: []byte{2}})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	base := "https://localhost:" + strconv.Itoa(port)
	dbPath := filepath.Join(dir, "hatoba.db")
	srv := start(t, "serve", "--database-url", dbPath, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--log-level", "warn",
		"--set", "simcloud.db_path="+filepath.Join(dir, "sim.db"), "--set", "identity.public_url="+base,
		"--set", "identity.client_ca_files="+files.CAs, "--set", "identity.tls_dir="+filepath.Join(dir, "tls"),
		"--set", "audit.signing_key_file="+filepath.Join(dir, "audit.key"))

	// The people: an auditor whose card is the good one, and one whose
	// card was revoked after it was bound.
	bind := func(leaf *pkitest.Leaf, name string) {
		ctx := context.Background()
		db, err := store.Open(ctx, dbPath, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ids := identity.New(db, identity.Options{InvitationTTL: time.Hour}, time.Now)
		_, inv, err := ids.Bootstrap(ctx, identity.Invitation{Role: authz.CentralAuditor, DisplayName: name})
		if err != nil {
			t.Fatal(err)
		}
		d := pki.Describe(leaf.Cert)
		if _, err := ids.Accept(ctx, inv, identity.Certificate{IssuerDN: d.IssuerDN, Serial: d.Serial, SPKISHA256: d.SPKISHA256, NotAfter: d.NotAfter}); err != nil {
			t.Fatal(err)
		}
	}
	bind(p.EmptySubject, "監査 花子")
	bind(p.Revoked, "失効 次郎")

	home := t.TempDir()
	cli := func(pinValue string, args ...string) (string, error) {
		args = append(args, "--server", base, "--server-ca", filepath.Join(dir, "tls", "server.pem"))
		cmd := exec.Command(hatobaBinary(t), args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "HATOBA_PIN="+pinValue,
			"HATOBA_TOKEN=", "HATOBA_SERVER=", "HATOBA_CONFIG=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	loginArgs := func(token string) []string {
		return []string{"login", "--pkcs11-module", hsm.Module, "--token-label", token}
	}

	if out, err := cli(pin, "env", "list"); err == nil || !strings.Contains(out, "sign in") {
		t.Fatalf("env list before login: %v\n%s", err, out)
	}
	if out, err := cli("000000", loginArgs("mynumber")...); err == nil || !strings.Contains(strings.ToLower(out), "pin") {
		t.Fatalf("login with a wrong PIN: %v\n%s", err, out)
	}
	out, err := cli(pin, loginArgs("mynumber")...)
	if err != nil || !strings.Contains(out, "signed in as 監査 花子") {
		t.Fatalf("login: %v\n%s\nserver log:\n%s", err, out, srv.logOutput())
	}
	if info, err := os.Stat(filepath.Join(home, ".config", "hatoba", "token.json")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", info, err)
	}
	if out, err := cli(pin, "env", "list"); err != nil {
		t.Fatalf("env list after login: %v\n%s", err, out)
	}
	if out, err := cli(pin, "logout"); err != nil || !strings.Contains(out, "signed out") {
		t.Fatalf("logout: %v\n%s", err, out)
	}
	if out, err := cli(pin, "env", "list"); err == nil {
		t.Fatalf("env list after logout worked:\n%s", out)
	}
	if out, err := cli(pin, loginArgs("revoked")...); err == nil || !strings.Contains(out, "revoked") {
		t.Fatalf("login with a revoked card: %v\n%s", err, out)
	}
}
