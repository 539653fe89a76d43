package main

import (
	"bufio"
	"context"
	"crypto/ecdh"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/pflag"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/keyd"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/secrets"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/web"
	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// keyService is the key service as serve embeds it and hatoba keyd runs
// it: the keys, the usage recorder, the XKS proxy and the plain
// encryption API over the key service's database.
type keyService struct {
	db *store.DB
	// ownDB: the key service keeps a database of its own (and so its own
	// audit record, signed with its own key).
	ownDB    bool
	keys     *keys.Service
	recorder *keyd.Recorder
	// admission bounds the XKS proxy's and the plain API's requests in
	// progress together.
	admission *xks.Admission
	xks       *xks.Handler
	plain     http.Handler
	hsm       keys.HSMConfig
	audit     *audit.Log // ownDB only
}

func openKeyService(ctx context.Context, cfg config.Config, mainDB *store.DB, log *slog.Logger) (*keyService, error) {
	kc := cfg.Keyd
	ks := &keyService{db: mainDB, hsm: keys.HSMConfig{ModulePath: kc.HSMModule, TokenLabel: kc.HSMTokenLabel, KeyLabel: kc.HSMKeyLabel}}
	if kc.DatabaseURL != "" && kc.DatabaseURL != cfg.DatabaseURL {
		db, err := store.Open(ctx, kc.DatabaseURL, store.Options{})
		if err != nil {
			return nil, fmt.Errorf("keyd database: %w", err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("keyd database: %w", err)
		}
		ks.db, ks.ownDB = db, true
		key, created, err := audit.LoadOrCreateKey(kc.AuditSigningKeyFile, cfg.Audit.Origin+"/keyd")
		if err != nil {
			db.Close()
			return nil, err
		}
		if created {
			log.Warn("created the key service's audit signing key; back it up", "file", kc.AuditSigningKeyFile, "verifier_key", key.VerifierKey)
		}
		ks.audit = audit.New(db, key.Signer, log.With("component", "keyd-audit"))
	}
	klog := log.With("component", "keyd")
	ks.keys = keys.New(ks.db, keys.Options{Logger: klog, StateTTL: kc.StateTTL})
	ks.recorder = keyd.NewRecorder(ks.db, keyd.RecorderOptions{Logger: klog})
	ks.admission = xks.NewAdmission(xks.DefaultMaxInFlight)
	node := kc.NodeID
	if node == "" {
		node, _ = os.Hostname()
	}
	h, err := xks.NewHandler(xks.Config{URIPrefix: kc.XKSURIPrefix, Region: kc.XKSRegion, Logger: klog, TenantPaths: kc.XKSTenantPaths,
		Keys: keyd.New(ks.keys, keyd.Options{NodeID: node, Model: "hatoba " + version}), Record: ks.recorder.Record, Admission: ks.admission})
	if err != nil {
		ks.close(ctx)
		return nil, err
	}
	ks.xks = h
	ks.plain = keyd.NewPlainAPI(keyd.PlainAPIConfig{Keys: ks.keys, Region: kc.XKSRegion, Record: ks.recorder.Record,
		Admission: ks.admission, Logger: klog})
	ks.autoUnseal(ctx, log)
	return ks, nil
}

// autoUnseal unseals HSM custody at start when HATOBA_KEYD_HSM_PIN is set
// (an unattended host); the variable is cleared once read. The unseal is
// the local operator's, who gave the process the PIN (localActor).
func (ks *keyService) autoUnseal(ctx context.Context, log *slog.Logger) {
	st, err := ks.keys.Status(ctx)
	if err != nil {
		log.Warn("key service status", "err", err)
		return
	}
	switch {
	case !st.Initialized:
		log.Info("the key service is not initialised: run hatoba keyd init (docs/keys.md)")
	case st.Mode == keys.ModeHSM && os.Getenv("HATOBA_KEYD_HSM_PIN") != "":
		cfg := ks.hsm
		cfg.PIN = os.Getenv("HATOBA_KEYD_HSM_PIN")
		_ = os.Unsetenv("HATOBA_KEYD_HSM_PIN")
		if err := ks.keys.UnsealHSM(ctx, audit.Acting{Actor: localActor()}, cfg); err != nil {
			log.Error("unsealing the key service with the HSM", "err", err)
			return
		}
		log.Info("key service unsealed by the HSM", "token", ks.hsm.TokenLabel)
	case st.Sealed:
		log.Info("the key service is sealed: custodians submit their shares with hatoba keyd unseal", "mode", st.Mode,
			"threshold", st.Threshold)
	}
}

// mount serves the XKS proxy and the plain encryption API on mux.
func (ks *keyService) mount(mux *http.ServeMux) {
	mux.Handle(ks.xks.Path(), ks.xks)
	mux.Handle(keyd.PlainAPIPath, ks.plain)
}

// collector reports the admission and usage-record metrics
// (hatoba_keyd_*); serve registers it on its registry.
func (ks *keyService) collector() *keyd.Collector {
	return keyd.NewCollector(ks.recorder, ks.admission)
}

// RecordHealth says whether usage records are being written: while they
// are not, every key request fails closed, and the console should say so
// (an alert for central operators).
func (ks *keyService) RecordHealth() keyd.RecordHealth {
	return ks.recorder.Health()
}

// runLoops integrates the key service's own record, when it keeps one.
func (ks *keyService) runLoops(ctx context.Context, wg *sync.WaitGroup, every time.Duration) {
	if ks.audit != nil {
		wg.Go(func() { ks.audit.Run(ctx, every) })
	}
}

func (ks *keyService) close(ctx context.Context) {
	if ks.recorder != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = ks.recorder.Close(stopCtx)
	}
	if ks.ownDB {
		ks.db.Close()
	}
}

// recordDB is the database of the key service's record for the API: nil
// when it is the control plane's.
func (ks *keyService) recordDB() *store.DB {
	if ks.ownDB {
		return ks.db
	}
	return nil
}

// secretCredentials reads a provider's credentials from hatoba's secret
// store at first use (and again after the SDK's cache expires), so a
// sealed key service stops them like everything else. The secret holds
// the secret access key; the access key id is in the configuration.
func secretCredentials(store *secrets.Store, name, accessKeyID string) awssdk.CredentialsProvider {
	return awssdk.CredentialsProviderFunc(func(ctx context.Context) (awssdk.Credentials, error) {
		v, err := store.Get(ctx, name)
		if err != nil {
			return awssdk.Credentials{}, fmt.Errorf("provider credentials: %w", err)
		}
		return awssdk.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: string(v), Source: "hatoba secret " + name,
			CanExpire: true, Expires: time.Now().Add(15 * time.Minute)}, nil
	})
}

// cmdKeydServe runs the key service on its own listener: the XKS proxy,
// the plain encryption API and the key routes of the API. People sign in
// at the control plane; their tokens are checked against its database.
func cmdKeydServe(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	addListenFlag(fs, sf, "keyd.listen", "`ADDR` of the key service's listener (keyd.listen)")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		cfg, log, mainDB, err := openServerCommand(ctx, sf, stderr)
		if err != nil {
			return err
		}
		defer mainDB.Close()
		if v, err := mainDB.SchemaVersion(ctx); err != nil || v < latestSchema() {
			return fmt.Errorf("the control plane's database %s is at schema %d of %d: run hatoba migrate (or serve) first: %v", mainDB, v, latestSchema(), err) //nolint:errorlint // err may be nil here: %w would print %!w(<nil>)
		}
		ks, err := openKeyService(ctx, cfg, mainDB, log)
		if err != nil {
			return err
		}
		defer ks.close(ctx)
		// People sign in here as at serve — card, then security key — against
		// the control plane's database; WebAuthn is bound to keyd's own host.
		orgs := org.New(mainDB, time.Now)
		ic := cfg.Identity
		ic.PublicURL = cfg.Keyd.PublicURL
		sp, err := buildSignIn(mainDB, orgs, ic, log)
		if err != nil {
			return err
		}
		apiServer := &api.Server{DB: mainDB, Orgs: orgs, Version: version, Logger: log, PublicURL: ic.PublicURL,
			Identity: sp.ids, Authz: sp.authz, Certs: sp.certs, Keys: ks.keys, KeyHSM: ks.hsm, KeyRecordDB: ks.recordDB(),
			KeyRecordFailing: func() (bool, time.Time) { h := ks.RecordHealth(); return h.Failing, h.Since }}
		mux := http.NewServeMux()
		apiServer.RegisterKeyService(mux)
		ks.mount(mux)
		console, err := web.New(web.Deps{API: apiServer, MFA: sp.mfa, Logger: log, KeyServiceOnly: true})
		if err != nil {
			return err
		}
		console.Register(mux)
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })

		loopCtx, stopLoops := context.WithCancel(ctx)
		var loops sync.WaitGroup
		defer func() { stopLoops(); loops.Wait() }()
		ks.runLoops(loopCtx, &loops, cfg.Audit.IntegrateInterval)

		tlsConfig, err := keydTLS(cfg.Keyd, sp.verifier, log)
		if err != nil {
			return err
		}
		plain, err := net.Listen("tcp", cfg.Keyd.Listen)
		if err != nil {
			return fmt.Errorf("keyd: %w", err)
		}
		ln := tls.NewListener(limitConns(plain, keydMaxConns), tlsConfig)
		where := "the control plane's database"
		if ks.ownDB {
			where = "its own database " + ks.db.String()
		}
		fmt.Fprintf(stdout, "hatoba keyd %s serving on https://%s (XKS proxy at %s, keys in %s)\n", version, ln.Addr(), ks.xks.StorePath("<org id>"), where)
		srv := &http.Server{Handler: withMiddleware(mux, log), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			WriteTimeout: time.Minute, TLSConfig: tlsConfig, ErrorLog: serverErrorLog(log)}
		return serveUntilDone(ctx, srv, ln)
	}
}

// keydTLS is keyd's own TLS: its certificate (or a self-signed one in its
// tls_dir), and mutual TLS when client CAs are configured.
func keydTLS(kc config.Keyd, people *pki.Verifier, log *slog.Logger) (*tls.Config, error) {
	c, err := serverTLS(config.Identity{TLSCertFile: kc.TLSCertFile, TLSKeyFile: kc.TLSKeyFile, TLSDir: kc.TLSDir, PublicURL: kc.PublicURL}, people, log)
	if err != nil {
		return nil, fmt.Errorf("keyd: %w", err)
	}
	if len(kc.ClientCAFiles) > 0 {
		// Every client must present a certificate: AWS KMS's, or a
		// person's card (whose anchors pki checks again at sign-in).
		pool := x509.NewCertPool()
		if people != nil {
			pool = people.ClientCAs()
		}
		for _, f := range kc.ClientCAFiles {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("keyd.client_ca_files: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("keyd.client_ca_files: %s holds no PEM certificate", f)
			}
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// cmdKeydInit initialises custody on the key service's database, on its
// host: split (printing the shares, each optionally sealed to a
// custodian's key) or HSM.
func cmdKeydInit(fs *pflag.FlagSet) runFunc {
	sf := addSettingFlags(fs)
	shares := fs.Int("shares", 5, "split mode: how many shares to make")
	threshold := fs.Int("threshold", 3, "split mode: how many shares unseal")
	var custodianKeys []string
	fs.Func("custodian-key", "PEM X25519 public key of a custodian (repeat once per share, in order); that share is printed sealed to it", func(v string) error {
		custodianKeys = append(custodianKeys, v)
		return nil
	})
	useHSM := fs.Bool("hsm", false, "HSM mode: generate the master key inside the HSM (keyd.hsm_module, hsm_token_label, hsm_key_label); the PIN is read from HATOBA_KEYD_HSM_PIN or standard input")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		cfg, log, mainDB, err := openServerCommand(ctx, sf, stderr)
		if err != nil {
			return err
		}
		defer mainDB.Close()
		if _, err := mainDB.Migrate(ctx); err != nil {
			return err
		}
		ks, err := openKeyService(ctx, cfg, mainDB, log)
		if err != nil {
			return err
		}
		defer ks.close(ctx)
		by := authz.Principal{PersonID: localActor(), Role: authz.CentralOperator}
		if *useHSM {
			hc := ks.hsm
			if hc.PIN = os.Getenv("HATOBA_KEYD_HSM_PIN"); hc.PIN == "" {
				fmt.Fprint(stderr, "HSM user PIN: ")
				if hc.PIN, err = readLine(stdin); err != nil {
					return err
				}
			}
			if err := ks.keys.InitHSM(ctx, by, hc); err != nil {
				return fmt.Errorf("keyd init: %w", err)
			}
			fmt.Fprintf(stdout, "initialised in HSM mode: master key %q on token %q (non-extractable AES-256)\n", hc.KeyLabel, hc.TokenLabel)
			return nil
		}
		if len(custodianKeys) > 0 && len(custodianKeys) != *shares {
			return usageError{fmt.Sprintf("give --custodian-key once per share: %d keys for %d shares", len(custodianKeys), *shares)}
		}
		custodians := make([]*ecdh.PublicKey, len(custodianKeys))
		for i, f := range custodianKeys {
			pem, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("--custodian-key: %w", err)
			}
			if custodians[i], err = keys.ParseCustodianKey(pem); err != nil {
				return fmt.Errorf("--custodian-key %s: %w", f, err)
			}
		}
		out, err := ks.keys.InitSplit(ctx, by, *shares, *threshold)
		if err != nil {
			return fmt.Errorf("keyd init: %w", err)
		}
		fmt.Fprintf(stdout, "initialised in split mode: %d shares, any %d unseal. Hand each share to its custodian; hatoba keeps none of them.\n"+
			"The key service is sealed: %d custodians unseal it with hatoba keyd unseal.\n\n", *shares, *threshold, *threshold)
		for i, sh := range out {
			if len(custodians) > 0 {
				if sh, err = keys.SealShare(sh, custodians[i]); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "share %d (sealed to %s): %s\n", i+1, custodianKeys[i], sh)
				continue
			}
			fmt.Fprintf(stdout, "share %d: %s\n", i+1, sh)
		}
		return nil
	}
}

// localActor names whoever runs a command on the server's own machine in
// the audit log.
func localActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return "local:" + name + "@" + host
}

func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// cmdKeydUnseal submits one custodian's share (or the HSM PIN) to a
// running key service.
func cmdKeydUnseal(fs *pflag.FlagSet) runFunc {
	cf := addClientFlags(fs)
	identityFile := fs.String("identity", "", "PEM X25519 private key that opens a share sealed to this custodian")
	pin := fs.Bool("pin", false, "HSM mode: send the HSM user PIN (read from standard input) instead of a share")
	cc := addClientCertFlags(fs)
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		c, err := newClient(cf)
		if err != nil {
			return err
		}
		if err := cc.apply(c); err != nil {
			return err
		}
		what := "share"
		if *pin {
			what = "HSM user PIN"
		}
		fmt.Fprintf(stderr, "%s: ", what)
		secret, err := readLine(stdin)
		if err != nil {
			return err
		}
		if secret == "" {
			return usageError{"no " + what + " given on standard input"}
		}
		in := api.UnsealInput{Share: secret}
		if *pin {
			in = api.UnsealInput{PIN: secret}
		} else if keys.IsSealedShare(secret) {
			if *identityFile == "" {
				return usageError{"this share is sealed to a custodian's key: give --identity with that custodian's private key"}
			}
			pem, err := os.ReadFile(*identityFile)
			if err != nil {
				return fmt.Errorf("--identity: %w", err)
			}
			priv, err := keys.ParseCustodianPrivateKey(pem)
			if err != nil {
				return err
			}
			if in.Share, err = keys.OpenShare(secret, priv); err != nil {
				return err
			}
		}
		var st api.KeyServiceStatus
		if _, err := c.do(ctx, "POST", "/api/v1/keys/service/unseal", in, nil, &st); err != nil {
			return fmt.Errorf("keyd unseal: %w", err)
		}
		printKeyStatus(stdout, st)
		return nil
	}
}

func cmdKeydSealStatus(sub string, fs *pflag.FlagSet) runFunc {
	cf := addClientFlags(fs)
	cc := addClientCertFlags(fs)
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		c, err := newClient(cf)
		if err != nil {
			return err
		}
		if err := cc.apply(c); err != nil {
			return err
		}
		var st api.KeyServiceStatus
		method, path := "GET", "/api/v1/keys/service"
		if sub == "seal" {
			method, path = "POST", "/api/v1/keys/service/seal"
		}
		if sub == "status" && c.token == "" {
			return keydHealth(ctx, c, stdout, "not signed in")
		}
		if code, err := c.do(ctx, method, path, nil, nil, &st); err != nil {
			if sub == "status" && code == http.StatusUnauthorized {
				return keydHealth(ctx, c, stdout, "the token is not accepted here")
			}
			return fmt.Errorf("keyd %s: %w", sub, err)
		}
		printKeyStatus(stdout, st)
		return nil
	}
}

// keydHealth is keyd status without a session: whether the service
// answers (its /healthz), and nothing of its custody.
func keydHealth(ctx context.Context, c *client, w io.Writer, why string) error {
	if _, err := c.do(ctx, "GET", "/healthz", nil, nil, nil); err != nil {
		return fmt.Errorf("keyd status: %w", err)
	}
	fmt.Fprintf(w, "%s answers (healthy); %s, so its custody state is not shown: hatoba login first\n", c.base, why)
	return nil
}

func printKeyStatus(w io.Writer, st api.KeyServiceStatus) {
	switch {
	case !st.Initialized:
		fmt.Fprintln(w, "not initialised (hatoba keyd init)")
	case st.Sealed && st.Mode == keys.ModeSplit:
		fmt.Fprintf(w, "sealed (split mode): %d of %d shares submitted\n", st.Submitted, st.Threshold)
	case st.Sealed:
		fmt.Fprintln(w, "sealed (HSM mode): unseal with hatoba keyd unseal --pin")
	default:
		health := ""
		if st.HSMHealthy != nil {
			health = ", HSM healthy"
			if !*st.HSMHealthy {
				health = ", HSM NOT answering"
			}
		}
		fmt.Fprintf(w, "unsealed (%s mode%s)\n", st.Mode, health)
	}
}

// cmdSecret stores one of hatoba's own secrets through a running server.
func cmdSecret(sub string, fs *pflag.FlagSet) runFunc {
	cf := addClientFlags(fs)
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		c, err := newClient(cf)
		if err != nil {
			return err
		}
		switch sub {
		case "put":
			if len(args) != 1 {
				return usageError{"secret put needs one NAME, e.g. provider/prod; the value is read from standard input"}
			}
			fmt.Fprint(stderr, "value: ")
			v, err := readLine(stdin)
			if err != nil {
				return err
			}
			if _, err := c.do(ctx, "PUT", "/api/v1/secrets/"+args[0], api.SecretInput{Value: v}, nil, nil); err != nil {
				return fmt.Errorf("secret put: %w", err)
			}
			fmt.Fprintf(stdout, "stored %s, encrypted through the key service; refer to it as %s%s\n", args[0], secrets.Reference, args[0])
			return nil
		case "list":
			var out struct {
				Names []string `json:"names"`
			}
			if _, err := c.do(ctx, "GET", "/api/v1/secrets", nil, nil, &out); err != nil {
				return fmt.Errorf("secret list: %w", err)
			}
			for _, n := range out.Names {
				fmt.Fprintln(stdout, n)
			}
			return nil
		}
		return usageError{fmt.Sprintf("unknown secret subcommand %q (known: put, list)", sub)}
	}
}

// keydMaxConns bounds keyd's open connections: beyond it new connections
// wait in the kernel's accept queue instead of taking a file descriptor
// each, so a flood of clients cannot exhaust the process's descriptors
// (which the database and the HSM need too). Requests in progress are
// bounded separately, and more tightly, by the handlers' admission
// (xks.DefaultMaxInFlight), which answers ThrottlingException beyond it.
const keydMaxConns = 4096

// limitConns accepts at most n connections at once.
func limitConns(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
