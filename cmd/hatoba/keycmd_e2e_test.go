package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
	"github.com/hatoba-cloud/hatoba/internal/smartcard"
	"github.com/hatoba-cloud/hatoba/internal/smartcard/smartcardtest"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// TestKeyOwnerCLIWithCard: a key owner signs in with the card and, with
// no browser and no security key, creates a key and an XKS credential
// from the CLI, each change confirmed by the card (SoftHSM2 standing in
// for it). A replayed confirmation, one for another path or body, and
// one made with another person's card are refused; the audit entries
// name the confirmations.
func TestKeyOwnerCLIWithCard(t *testing.T) {
	dir := t.TempDir()
	p, files := pkitest.New(t, pkitest.Options{CAKey: pkitest.RSA2048})
	hsm := smartcardtest.New(t) // sets SOFTHSM2_CONF for this process and the CLI's
	const pin = "246810"
	hsm.AddToken("alice", pin, smartcardtest.Key{Leaf: p.EmptySubject, Label: "User Authentication Key", ID: []byte{1}})
	hsm.AddToken("bob", pin, smartcardtest.Key{Leaf: p.ValidRSA, Label: "auth", ID: []byte{2}})

	dbPath := filepath.Join(dir, "hatoba.db")
	shares := keydInit(t, "--database-url", dbPath)
	port := freePort(t)
	base := "https://localhost:" + port
	serverCA := filepath.Join(dir, "tls", "server.pem")
	srv := start(t, "serve", "--database-url", dbPath, "--listen", "127.0.0.1:"+port, "--log-level", "warn",
		"--set", "simcloud.db_path="+filepath.Join(dir, "sim.db"), "--set", "identity.public_url="+base,
		"--set", "identity.client_ca_files="+files.CAs, "--set", "identity.tls_dir="+filepath.Join(dir, "tls"),
		"--set", "audit.signing_key_file="+filepath.Join(dir, "audit.key"), "--set", "audit.integrate_interval=200ms")
	unseal(t, base, serverCA, shares[0])
	unseal(t, base, serverCA, shares[1])
	createOrg(t, dbPath, srv.url)

	// Alice and Bob administer nat-digital, each with a card of their own;
	// both are key owners.
	ctx := context.Background()
	db, err := store.Open(ctx, dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.New(db, identity.Options{InvitationTTL: time.Hour}, time.Now)
	bind := func(leaf *pkitest.Leaf, name string) authz.Principal {
		pr, inv, err := ids.Bootstrap(ctx, identity.Invitation{Role: authz.TenantAdmin, OrgID: "nat-digital", DisplayName: name})
		if err != nil {
			t.Fatal(err)
		}
		d := pki.Describe(leaf.Cert)
		if _, err := ids.Accept(ctx, inv, identity.Certificate{IssuerDN: d.IssuerDN, Serial: d.Serial, SPKISHA256: d.SPKISHA256, NotAfter: d.NotAfter}); err != nil {
			t.Fatal(err)
		}
		return authz.Principal{PersonID: pr.ID, Role: authz.TenantAdmin, OrgID: "nat-digital"}
	}
	alice, bob := bind(p.EmptySubject, "鍵 花子"), bind(p.ValidRSA, "鍵 次郎")
	if _, err := ids.SetKeyOwner(ctx, alice, alice.PersonID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := ids.SetKeyOwner(ctx, alice, bob.PersonID, true); err != nil {
		t.Fatal(err)
	}
	db.Close()

	home := t.TempDir()
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(hatobaBinary(t), args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "HATOBA_PIN="+pin,
			"HATOBA_TOKEN=", "HATOBA_SERVER="+base, "HATOBA_SERVER_CA="+serverCA, "HATOBA_CONFIG=", "HATOBA_PKCS11_MODULE="+hsm.Module)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String() + errOut.String(), err
	}
	mustCLI := func(args ...string) string {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("hatoba %s: %v\n%s\nserver log:\n%s", strings.Join(args, " "), err, out, srv.logOutput())
		}
		return out
	}

	mustCLI("login", "--token-label", "alice")
	if out := mustCLI("key", "list"); !strings.Contains(out, "ID") {
		t.Fatalf("key list: %s", out)
	}
	// Without the card a change is refused before it is sent.
	if out, err := cli("key", "create", "--id", "k0"); err == nil || !strings.Contains(out, "--token-label") {
		t.Fatalf("key create without a card: %v\n%s", err, out)
	}
	if out := mustCLI("key", "create", "--token-label", "alice", "--id", "k1", "--description", "住民票"); !strings.Contains(out, "created nat-digital/k1: encrypt_decrypt, enabled, version 1") {
		t.Fatalf("key create: %s", out)
	}
	var cred struct {
		AccessKeyID string `json:"access_key_id"`
		Secret      string `json:"secret"`
	}
	out := mustCLI("key", "credential", "create", "--token-label", "alice", "--json")
	if err := json.NewDecoder(strings.NewReader(out[strings.Index(out, "{"):])).Decode(&cred); err != nil || !strings.HasPrefix(cred.AccessKeyID, "HATOBA") || cred.Secret == "" {
		t.Fatalf("credential create: %v\n%s", err, out)
	}
	if out := mustCLI("key", "credential", "list", "--json"); !strings.Contains(out, cred.AccessKeyID) || strings.Contains(out, cred.Secret) {
		t.Fatalf("credential list: %s", out)
	}
	if out := mustCLI("key", "rotate", "--token-label", "alice", "k1"); !strings.Contains(out, "version 2") {
		t.Fatalf("rotate: %s", out)
	}
	if out := mustCLI("key", "usage", "--token-label", "alice", "k1", "encrypt_only"); !strings.Contains(out, "encrypt_only") {
		t.Fatalf("usage: %s", out)
	}
	if out, err := cli("key", "kill", "--token-label", "alice"); err == nil || !strings.Contains(out, "--confirm nat-digital") {
		t.Fatalf("kill without --confirm: %v\n%s", err, out)
	}
	mustCLI("key", "kill", "--token-label", "alice", "--confirm", "nat-digital")
	if out := mustCLI("key", "revive", "--token-label", "alice"); !strings.Contains(out, "live") {
		t.Fatalf("revive: %s", out)
	}

	// Bob's card cannot confirm Alice's session.
	if out, err := cli("key", "create", "--token-label", "bob", "--id", "k2"); err == nil || !strings.Contains(out, "not the card this session signed in with") {
		t.Fatalf("another person's card: %v\n%s", err, out)
	}

	// Confirmations made by hand with Alice's card, sent as a client would.
	var saved savedToken
	b, err := os.ReadFile(filepath.Join(home, ".config", "hatoba", "token.json"))
	if err != nil || json.Unmarshal(b, &saved) != nil {
		t.Fatalf("token file: %v", err)
	}
	card, err := smartcard.Open(smartcard.Options{ModulePath: hsm.Module, TokenLabel: "alice", PIN: pin})
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	const keysPath = "/api/v1/organizations/nat-digital/keys"
	confirm := func(method, path, body string) string {
		st, err := pki.NewActionStatement(base, method, path, []byte(body), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := st.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		sig, err := card.SignAction(raw)
		if err != nil {
			t.Fatal(err)
		}
		return pki.FormatActionHeader(raw, sig, p.EmptySubject.Cert.Raw)
	}
	send := func(method, path, body, sig string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+saved.Token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(pki.ActionSignatureHeader, sig)
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	sig := confirm("POST", keysPath, `{"id":"k3"}`)
	if code, body := send("POST", keysPath, `{"id":"k3"}`, sig); code != 201 {
		t.Fatalf("ok/confirmed by hand: %d %s", code, body)
	}
	if code, body := send("POST", keysPath, `{"id":"k3"}`, sig); code != 403 || !strings.Contains(body, "already used") {
		t.Fatalf("fail/replay: %d %s", code, body)
	}
	if code, body := send("POST", "/api/v1/organizations/nat-digital/keystore/xks-credentials", "", confirm("POST", keysPath, "")); code != 403 || !strings.Contains(body, "not this request") {
		t.Fatalf("fail/another path: %d %s", code, body)
	}
	if code, body := send("POST", keysPath, `{"id":"k5"}`, confirm("POST", keysPath, `{"id":"k4"}`)); code != 403 || !strings.Contains(body, "another request body") {
		t.Fatalf("fail/another body: %d %s", code, body)
	}

	// The key owner's record shows the changes, each confirmed by the card.
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := mustCLI("key", "usage", "--json", "--limit", "100")
		confirmed := 0
		for _, action := range []string{"key.create", "key.xks_credential.create", "key.rotate", "key.set_usage", "key.kill", "key.revive"} {
			for line := range strings.SplitSeq(out, "\n") {
				if strings.Contains(line, `"action":"`+action+`"`) && strings.Contains(line, `\"confirmed_by\":\"card\"`) {
					confirmed++
					break
				}
			}
		}
		if confirmed == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage record: %d of 6 changes recorded as confirmed by the card:\n%s", confirmed, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// keyd status without signing in shows health only.
	cmd := exec.Command(hatobaBinary(t), "keyd", "status")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir(), "HATOBA_TOKEN=", "HATOBA_SERVER="+base,
		"HATOBA_SERVER_CA="+serverCA, "HATOBA_CONFIG=")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "answers (healthy)") || strings.Contains(string(out), "unsealed") {
		t.Fatalf("keyd status without a session: %v\n%s", err, out)
	}
}

// TestKeydCLIMutualTLS: against a key service that requires a client
// certificate of everyone, keyd status and unseal work with
// --cert-file/--key-file and fail without; status without a session shows
// health only.
func TestKeydCLIMutualTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, files := pkitest.New(t, pkitest.Options{})
	mainDB := filepath.Join(dir, "main.db")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "--database-url", mainDB}, &out, &errOut); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut.String())
	}
	settings := []string{"--database-url", mainDB, "--set", "keyd.database_url=" + filepath.Join(dir, "keyd.db"),
		"--set", "keyd.audit_signing_key_file=" + filepath.Join(dir, "keyd-audit.key"), "--set", "keyd.tls_dir=" + filepath.Join(dir, "keyd-tls"),
		"--set", "keyd.listen=127.0.0.1:0", "--set", "keyd.client_ca_files=" + files.CAs}
	shares := keydInit(t, settings...)
	kd := start(t, append([]string{"keyd", "serve", "--log-level", "warn"}, settings...)...)
	certFile, keyFile := files.Leaf(pkitest.NameValidRSA)
	cli := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(hatobaBinary(t), append(args, "--server", kd.url, "--server-ca", filepath.Join(dir, "keyd-tls", "server.pem"))...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir(), "HATOBA_TOKEN=", "HATOBA_SERVER=", "HATOBA_CONFIG=")
		cmd.Stdin = strings.NewReader(stdin)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	withCert := []string{"--cert-file", certFile, "--key-file", keyFile}
	if out, err := cli("", "keyd", "status"); err == nil {
		t.Fatalf("status without a client certificate: %s", out)
	}
	if out, err := cli(shares[0]+"\n", "keyd", "unseal"); err == nil {
		t.Fatalf("unseal without a client certificate: %s", out)
	}
	if out, err := cli("", append([]string{"keyd", "status"}, withCert...)...); err != nil || !strings.Contains(out, "answers (healthy)") {
		t.Fatalf("status with a client certificate: %v\n%s", err, out)
	}
	if out, err := cli(shares[0]+"\n", append([]string{"keyd", "unseal"}, withCert...)...); err != nil || !strings.Contains(out, "1 of 2 shares") {
		t.Fatalf("first share: %v\n%s", err, out)
	}
	if out, err := cli(shares[2]+"\n", append([]string{"keyd", "unseal"}, withCert...)...); err != nil || !strings.Contains(out, "unsealed (split mode)") {
		t.Fatalf("second share: %v\n%s", err, out)
	}
	if out, err := cli("", "keyd", "status", "--cert-file", certFile); err == nil || !strings.Contains(out, "--key-file") {
		t.Fatalf("half a client certificate: %v\n%s", err, out)
	}
}
