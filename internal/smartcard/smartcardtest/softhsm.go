//go:build cgo

// Package smartcardtest makes SoftHSM2 tokens that stand in for a smart
// card in tests: a token directory of the test's own, and tokens holding
// a pkitest key and certificate. It is imported only by tests.
package smartcardtest

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ThalesGroup/crypto11"

	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
)

// modules are where distributions install SoftHSM2's PKCS#11 module (the
// same list as scripts/install-test-deps.sh).
var modules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// required says whether a missing SoftHSM2 fails the test instead of
// skipping it: in CI and under scripts/test.sh.
func required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("HATOBA_REQUIRE_SOFTHSM") == "1" || os.Getenv("HATOBA_REQUIRE_BROWSER") == "1"
}

// Module returns the SoftHSM2 module's path and softhsm2-util's. Without
// them the test is skipped, or fails where they are required (CI=true,
// HATOBA_REQUIRE_SOFTHSM=1 or HATOBA_REQUIRE_BROWSER=1).
func Module(t testing.TB) (module, util string) {
	t.Helper()
	for _, m := range modules {
		if _, err := os.Stat(m); err == nil {
			module = m
			break
		}
	}
	util, err := exec.LookPath("softhsm2-util")
	if module != "" && err == nil {
		return module, util
	}
	msg := "SoftHSM2 is not installed (no libsofthsm2.so in " + strings.Join(modules, ", ") + ", or no softhsm2-util on PATH); scripts/install-test-deps.sh installs it"
	if required() {
		t.Fatal(msg + " (CI=true, HATOBA_REQUIRE_SOFTHSM=1 or HATOBA_REQUIRE_BROWSER=1: the smart card tests must run)")
	}
	t.Skip(msg + "; skipping the smart card test")
	return "", ""
}

// SoftHSM is a SoftHSM2 token directory of one test.
type SoftHSM struct {
	Module string // the PKCS#11 module to give smartcard.Open
	Dir    string
	util   string
	t      testing.TB
}

// New makes an empty token directory and points SOFTHSM2_CONF at it for
// the rest of the test. SoftHSM2 reads that variable, process-wide, when
// the module is initialised, so: the test cannot be parallel (t.Setenv
// refuses), and every card it opens must be closed before it ends (the
// module is finalised, and reads the next test's directory, only when the
// last user closes it).
func New(t testing.TB) *SoftHSM {
	t.Helper()
	module, util := Module(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	return &SoftHSM{Module: module, Dir: dir, util: util, t: t}
}

// Key is a key pair to put on a token.
type Key struct {
	Leaf  *pkitest.Leaf
	Label string // CKA_LABEL of the key and its certificate
	ID    []byte // CKA_ID of the key and its certificate
	// NoCertificate leaves the certificate off the token.
	NoCertificate bool
}

// Token is an initialised token.
type Token struct {
	Label, PIN, SOPIN string
}

// AddToken initialises a token labelled label, with user PIN pin, and
// imports keys: each private key with softhsm2-util (which reads PKCS#8),
// each certificate through crypto11 (softhsm2-util cannot import one).
func (h *SoftHSM) AddToken(label, pin string, keys ...Key) Token {
	h.t.Helper()
	tok := Token{Label: label, PIN: pin, SOPIN: "so-" + pin}
	h.run("--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", tok.SOPIN)
	for i, k := range keys {
		pemKey, err := k.Leaf.KeyPEM()
		if err != nil {
			h.t.Fatal(err)
		}
		path := filepath.Join(h.Dir, label+"-"+k.Label+".key")
		if err := os.WriteFile(path, pemKey, 0o600); err != nil {
			h.t.Fatal(err)
		}
		h.run("--import", path, "--token", label, "--label", k.Label, "--id", hex.EncodeToString(k.ID), "--pin", pin)
		if err := os.Remove(path); err != nil {
			h.t.Fatal(err)
		}
		if k.NoCertificate {
			continue
		}
		ctx, err := crypto11.Configure(&crypto11.Config{Path: h.Module, TokenLabel: label, Pin: pin})
		if err != nil {
			h.t.Fatalf("smartcardtest: opening token %s to import certificate %d: %v", label, i, err)
		}
		err = ctx.ImportCertificateWithLabel(k.ID, []byte(k.Label), k.Leaf.Cert)
		if cerr := ctx.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			h.t.Fatalf("smartcardtest: importing certificate %d into token %s: %v", i, label, err)
		}
	}
	return tok
}

// run runs softhsm2-util; its output, which has no secrets of a test
// token worth keeping, is shown when it fails.
func (h *SoftHSM) run(args ...string) {
	h.t.Helper()
	out, err := exec.Command(h.util, args...).CombinedOutput()
	if err != nil {
		h.t.Fatalf("softhsm2-util %s: %v\n%s", args[0], err, out)
	}
}
