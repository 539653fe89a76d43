// Command hatoba is the control plane of a sovereign government cloud: one
// binary that serves the API, the console and the vending workers, and holds
// the operator's and pipelines' subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `hatoba — control plane for a sovereign government cloud

Usage:
  hatoba serve     [flags]           run the API, console and vending workers
  hatoba migrate   [flags]           apply database migrations and print the schema version
  hatoba org import [--dry-run] [flags] [FILE…]  import organisations, all or nothing (no FILE: the built-in national data)
  hatoba env request --org ID --system NAME [--purpose P] [--classification C] [--provider NAME] [--wait]
  hatoba env list  [--org ID] [--state S]
  hatoba env show  ID [--watch]
  hatoba env approve|retry ID
  hatoba env reject ID --reason TEXT
  hatoba simcloud  [--listen ADDR]     run the simulated cloud on its own
  hatoba person invite --role ROLE --name NAME [--org ID] [--email E]
                                     invite a person from the server's machine (the first operator)
  hatoba login --token-label LABEL [--pkcs11-module PATH]
                                     sign in with the smart card (PKCS#11); keeps a short-lived token
  hatoba logout
  hatoba audit verify [--checkpoint FILE] [--key KEY] [--all-signatures]
  hatoba audit export [--org ID]… [--since T] [--until T] [--out FILE]
  hatoba audit checkpoint [--out FILE] | key [--create] | integrate
  hatoba audit check-bundle --key KEY FILE   verify a tenant's audit bundle offline
  hatoba keyd serve [flags]          run the key service on its own listener (docs/keys.md)
  hatoba keyd init --shares N --threshold K [--custodian-key PEM]… | --hsm
                                     initialise custody on the key service's database
  hatoba keyd unseal [--identity PEM] [--pin]   submit a share (or the HSM PIN) from stdin
  hatoba keyd seal | status          seal the key service at once; show its state (health only when not signed in)
  hatoba key list | create [--id K] [--usage U] | rotate|disable|enable KEY | usage [KEY USAGE]
  hatoba key kill --confirm ORG | revive | credential create|list|revoke [AKID]   [--org ID] [--json]
                                     a key owner's keys; changes are confirmed with the card
                                     (--token-label, PIN as for login; docs/keys.md)
  hatoba secret put NAME | list      store one of hatoba's secrets (value on stdin), encrypted
                                     through the key service; refer to it as secret:NAME
  hatoba scan [--format text|json|sarif] [--fail-on SEVERITY] [--out FILE] [--region R] FILE…|-
                                     check Terraform plans (terraform show -json) and CloudFormation
                                     templates against the proactive controls, offline
  hatoba control add DIR | test DIR  upload a custom control (control.yaml, policy.rego,
                                     policy_test.rego) to the server; test it offline first
  hatoba control collect [--wait]    collect every ready environment's inventory now
                                     (central operators), following the round's progress
  hatoba backup [run | drill | list] [--identity PEM]
                                     back up to the configured S3 bucket (Object Lock), restore the
                                     newest into a scratch database (drill), or list backups and runs;
                                     run and drill unseal the key service here (shares on stdin,
                                     or HATOBA_KEYD_HSM_PIN) (docs/backup.md)
  hatoba restore --into URL [--id ID] [--key KEY] [--config-out FILE]
                                     restore a backup into an empty database; exit 3 when its
                                     signature, checksum or key does not match
  hatoba export --out DIR [--org ID] | export verify DIR [--key KEY]
                                     the whole platform (or one organisation's subtree) in open
                                     formats, signed; checked offline
  hatoba import --from DIR --into URL  a fresh installation's database from an export
  hatoba exit-drill --into URL [--out DIR] [--json]
                                     export this installation, import it into a new database
                                     (SQLite → PostgreSQL), compare, report (docs/exit.md)
  hatoba notify channels|events|deliveries [--state dead]|suppressions|notices [--org ID]
  hatoba notify channel add --name N --kind webhook|slack|teams|email [--url U|--to A,B] [--min-severity S]
                    [--group D] [--quiet 22:00-07:00] [--tz Z] [--org ID] | update|test|delete CHANNEL
  hatoba notify retry DELIVERY | suppress [--env E] [--control C] [--resource R] --reason T [--for D]
                    | lift ID | ingest-token   --org ID
  hatoba notify notice send EVENT --message T | ack|fix NOTICE --org ID [--note T]
  hatoba notify digests | digest make [--period daily|weekly] | show ID | verify --key KEY FILE
  hatoba notify settings [--smtp-addr H:P] [--smtp-from A] [--digests daily,weekly|none]
                                     findings to their owner first, central's critical digest
                                     (docs/notifications.md)
  hatoba baseline verify --key KEY FILE   verify a baseline release (as the API returns it) offline
                                     (docs/baselines.md)
  hatoba version

Common flags: --config FILE, --database-url URL, --listen ADDR, --log-level LEVEL,
--set key=value (any setting, e.g. --set simcloud.latency=1s). Every setting can
also come from HATOBA_<KEY> environment variables (HATOBA_DATABASE_URL, …).
The login, logout and env subcommands talk to a running server: --server URL
or HATOBA_SERVER (default https://localhost:8443), trusting --server-ca FILE or
HATOBA_SERVER_CA (default ./hatoba-tls/server.pem when present). They act as
the person "hatoba login" signed in with the card (a 15-minute token), or as
HATOBA_TOKEN.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, errHelpShown) {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "hatoba: %v\n\n%s", err, usage)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "hatoba: %v\n", err)
		os.Exit(exitCode(err))
	}
}

// errHelpShown ends a subcommand whose -h was answered.
var errHelpShown = errors.New("help shown")

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"a subcommand is required"}
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, args[1:], stdout, stderr)
	case "org":
		if len(args) < 2 || args[1] != "import" {
			return usageError{"org needs a subcommand: import"}
		}
		return cmdOrgImport(ctx, args[2:], stdout, stderr)
	case "env":
		if len(args) < 2 {
			return usageError{"env needs a subcommand: request, list, show, approve, reject, retry"}
		}
		return cmdEnv(ctx, args[1], args[2:], stdout)
	case "simcloud":
		return cmdSimCloud(ctx, args[1:], stdout, stderr)
	case "person":
		return cmdPerson(ctx, args[1:], stdout, stderr)
	case "login":
		return cmdLogin(ctx, args[1:], os.Stdin, stdout, stderr)
	case "logout":
		return cmdLogout(ctx, args[1:], stdout, stderr)
	case "audit":
		if len(args) < 2 {
			return usageError{"audit needs a subcommand: " + auditSubcommands}
		}
		return cmdAudit(ctx, args[1], args[2:], stdout, stderr)
	case "keyd":
		if len(args) < 2 {
			return usageError{"keyd needs a subcommand: " + keydSubcommands}
		}
		return cmdKeyd(ctx, args[1], args[2:], os.Stdin, stdout, stderr)
	case "key":
		return cmdKey(ctx, args[1:], os.Stdin, stdout, stderr)
	case "secret":
		if len(args) < 2 {
			return usageError{"secret needs a subcommand: put, list"}
		}
		return cmdSecret(ctx, args[1], args[2:], os.Stdin, stdout, stderr)
	case "scan":
		return cmdScan(ctx, args[1:], os.Stdin, stdout, stderr)
	case "control":
		if len(args) < 2 {
			return usageError{"control needs a subcommand: add, test"}
		}
		return cmdControl(ctx, args[1], args[2:], stdout, stderr)
	case "backup":
		return cmdBackup(ctx, args[1:], os.Stdin, stdout, stderr)
	case "restore":
		return cmdRestore(ctx, args[1:], os.Stdin, stdout, stderr)
	case "export":
		return cmdExport(ctx, args[1:], stdout, stderr)
	case "import":
		return cmdImport(ctx, args[1:], stdout, stderr)
	case "exit-drill":
		return cmdExitDrill(ctx, args[1:], stdout, stderr)
	case "notify":
		return cmdNotify(ctx, args[1:], stdout, stderr)
	case "baseline":
		return cmdBaseline(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "hatoba %s (schema %d)\n", version, latestSchema())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown subcommand %q", args[0])}
}

// settingFlags are the flags every server-side subcommand accepts.
type settingFlags struct {
	config string
	sets   map[string]string
}

func addSettingFlags(fs *flag.FlagSet) *settingFlags {
	s := &settingFlags{sets: map[string]string{}}
	fs.StringVar(&s.config, "config", os.Getenv("HATOBA_CONFIG"), "YAML configuration file")
	for _, f := range []struct{ name, key, help string }{
		{"database-url", "database_url", "database: a SQLite path or postgres://… URL"},
		{"listen", "listen", "address to listen on"},
		{"log-level", "log_level", "debug, info, warn or error"},
	} {
		key := f.key
		fs.Func(f.name, f.help, func(v string) error { s.sets[key] = v; return nil })
	}
	fs.Func("set", "key=value for any setting (repeatable)", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("--set needs key=value, not %q", v)
		}
		s.sets[k] = val
		return nil
	})
	return s
}

func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelpShown
		}
		return usageError{err.Error()}
	}
	return nil
}
