package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The command line is a cobra tree (ADR 0011): flags before and after
// positional arguments, -h/--help on every group and command, shell
// completion and a generated reference (docs/cli/). Each command's logic
// stays in its own file as a constructor that defines the command's flags
// and returns a runFunc over their parsed values; this file only wires.

// pflag marks every boolean flag "[=true|false]" in the help; --watch
// reads better (--watch=false still works). cobra's template functions are
// process-wide, so this is registered once, not per command tree.
func init() {
	cobra.AddTemplateFunc("plainBools", func(s string) string { return strings.ReplaceAll(s, "[=true|false]", "             ") })
}

// runFunc is a command's logic, called once its flags are parsed, with its
// positional arguments.
type runFunc func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error

// failing is a runFunc that only returns err.
func failing(err error) runFunc {
	return func(context.Context, []string, io.Reader, io.Writer, io.Writer) error { return err }
}

// command makes a runnable command: build defines its flags and returns
// its logic; args checks the positional arguments.
func command(use, short string, args cobra.PositionalArgs, build func(*pflag.FlagSet) runFunc) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short}
	c.Args = func(c *cobra.Command, a []string) error {
		if err := args(c, a); err != nil {
			return usageError{err.Error()}
		}
		return nil
	}
	run := build(c.Flags())
	c.RunE = func(c *cobra.Command, a []string) error {
		return run(c.Context(), a, c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

// group makes a command that only holds subcommands: without one, or with
// one it does not know, it is a usage error (cobra would print the help
// and succeed).
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs}
	c.RunE = func(c *cobra.Command, a []string) error {
		var names []string
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				names = append(names, s.Name())
			}
		}
		if len(a) == 0 {
			return usageError{fmt.Sprintf("%s needs a subcommand: %s", c.CommandPath(), strings.Join(names, ", "))}
		}
		return usageError{fmt.Sprintf("unknown subcommand %q for %s (known: %s)", a[0], c.CommandPath(), strings.Join(names, ", "))}
	}
	c.AddCommand(subs...)
	return c
}

// with sets a command's longer help and examples.
func with(c *cobra.Command, long, example string) *cobra.Command {
	if long = strings.TrimSpace(long); long != "" {
		c.Long = c.Short + "\n\n" + long
	}
	c.Example = strings.TrimRight(example, "\n")
	return c
}

var (
	noArgs  = cobra.NoArgs
	anyArgs = cobra.ArbitraryArgs
	oneArg  = cobra.ExactArgs(1)
)

const clientHelp = `It talks to a running server: --server URL or HATOBA_SERVER (default
https://localhost:8443), trusting --server-ca FILE or HATOBA_SERVER_CA
(default ./hatoba-tls/server.pem when present). It acts as the person
"hatoba login" signed in (a 15-minute token), or as HATOBA_TOKEN.`

const serverHelp = `It runs on the server's machine, with its configuration: defaults, then
--config FILE, then HATOBA_<KEY> environment variables (HATOBA_DATABASE_URL,
HATOBA_SIMCLOUD_LATENCY, …), then flags (--set key=value for any setting).`

// newRootCmd is hatoba's whole command line.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "hatoba",
		Short: "control plane for a sovereign government cloud",
		Long: `hatoba vends and governs cloud environments for ministries and local
governments; keys, control and data stay under domestic jurisdiction.
"hatoba serve" runs the API, the console and the workers; the other
commands are the operators' and pipelines' tools.`,
		Version:       fmt.Sprintf("%s (schema %d)", version, latestSchema()),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, a []string) error {
			if len(a) == 0 {
				return usageError{"a subcommand is required"}
			}
			return usageError{fmt.Sprintf("unknown subcommand %q", a[0])}
		},
	}
	root.SetVersionTemplate("hatoba {{.Version}}\n")
	// pflag marks every boolean flag "[=true|false]" in the help; --watch
	// reads better (--watch=false still works).
	root.SetUsageTemplate(strings.ReplaceAll(root.UsageTemplate(), ".FlagUsages | trimTrailingWhitespaces", ".FlagUsages | plainBools | trimTrailingWhitespaces"))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	root.AddCommand(
		with(command("serve", "run the API, console, vending workers and (by default) the key service and simulated cloud", noArgs, cmdServe),
			serverHelp, "  hatoba serve\n  hatoba serve --listen 127.0.0.1:8444 --database-url postgres://postgres@127.0.0.1:5432/test"),
		with(command("migrate", "apply database migrations and print the schema version", noArgs, cmdMigrate), serverHelp, ""),
		group("org", "organisations",
			with(command("import [FILE…]", "import organisations, all or nothing (no FILE: the built-in national data)", anyArgs, cmdOrgImport),
				serverHelp, "  hatoba org import\n  hatoba org import --dry-run orgs.csv")),
		group("env", "environments: request, follow and decide (a client of the API)",
			with(command("request", "request an environment", noArgs, func(fs *pflag.FlagSet) runFunc { return cmdEnv("request", fs) }),
				clientHelp, "  hatoba env request --org lg-131016 --system 住民記録 --purpose production --wait"),
			with(command("list", "list environments", noArgs, func(fs *pflag.FlagSet) runFunc { return cmdEnv("list", fs) }), clientHelp, ""),
			with(command("show ID", "show an environment and its vending steps", oneArg, func(fs *pflag.FlagSet) runFunc { return cmdEnv("show", fs) }),
				clientHelp, "  hatoba env show env-0123 --watch"),
			with(command("approve ID", "approve a requested environment (central operators)", oneArg, func(fs *pflag.FlagSet) runFunc { return cmdEnv("approve", fs) }), clientHelp, ""),
			with(command("reject ID", "reject a requested environment, saying why", oneArg, func(fs *pflag.FlagSet) runFunc { return cmdEnv("reject", fs) }),
				clientHelp, "  hatoba env reject env-0123 --reason \"no budget this year\""),
			with(command("retry ID", "retry a failed environment's vending", oneArg, func(fs *pflag.FlagSet) runFunc { return cmdEnv("retry", fs) }), clientHelp, ""),
			with(command("transfer ID", "move a ready environment to another organisation (central operators; refused when it breaks placement)", oneArg,
				func(fs *pflag.FlagSet) runFunc { return cmdEnv("transfer", fs) }), clientHelp, "  hatoba env transfer env-0123 --to lg-131016"),
			with(command("close ID", "close an environment's account (its administrators or central operators)", oneArg,
				func(fs *pflag.FlagSet) runFunc { return cmdEnv("close", fs) }), clientHelp, "  hatoba env close env-0123 --reason \"system retired\""),
		),
		with(command("simcloud", "run the simulated cloud on its own (AWS wire protocol)", noArgs, cmdSimCloud),
			serverHelp, "  hatoba simcloud --simcloud-listen 127.0.0.1:4566"),
		group("person", "people, from the server's machine",
			with(command("invite", "invite a person (the first central operator); --cert binds a certificate at once", noArgs, cmdPersonInvite),
				serverHelp+"\n\nWithout --cert it prints a one-time invitation link; with --cert the person\nsigns in with that certificate at once (a server without a browser, a trial).",
				"  hatoba person invite --role central-operator --name \"運用 太郎\" --cert trial-pki/client.pem")),
		with(command("login", "sign in with the smart card (PKCS#11) or a certificate file; keeps a 15-minute token", noArgs, cmdLogin),
			clientHelp, "  hatoba login --token-label \"JPKI\"\n  hatoba login --cert-file trial-pki/client.pem --key-file trial-pki/client-key.pem"),
		with(command("logout", "revoke and forget the saved token", noArgs, cmdLogout), clientHelp, ""),
		group("audit", "the tamper-evident audit log (docs/audit.md)",
			with(command("verify", "check the whole log against its signatures", noArgs, cmdAuditVerify), serverHelp, "  hatoba audit verify\n  hatoba audit verify --checkpoint cp.txt --full"),
			with(command("export", "export entries as JSON lines", noArgs, cmdAuditExport), serverHelp, "  hatoba audit export --org lg-131016 --since 2026-04-01 --out audit.jsonl"),
			with(command("checkpoint", "print (or save) the latest signed checkpoint", noArgs, cmdAuditCheckpoint), serverHelp, ""),
			with(command("key", "print the log's public key (or create the signing key)", noArgs, cmdAuditKey), serverHelp, ""),
			with(command("check-bundle FILE", "verify a tenant's audit bundle offline (- reads standard input)", oneArg, cmdAuditCheckBundle), "",
				"  hatoba audit check-bundle --key \"$HATOBA_AUDIT_KEY\" bundle.json"),
			with(command("integrate", "integrate queued entries into the log now", noArgs, cmdAuditIntegrate), serverHelp, ""),
		),
		group("keyd", "the key service: custody, unsealing, its own listener (docs/keys.md)",
			with(command("serve", "run the key service on its own listener", noArgs, cmdKeydServe), serverHelp, ""),
			with(command("init", "initialise custody: split key (prints the shares) or HSM", noArgs, cmdKeydInit), serverHelp, "  hatoba keyd init --shares 5 --threshold 3"),
			with(command("unseal", "submit one custodian's share (or the HSM PIN) from standard input", noArgs, cmdKeydUnseal), clientHelp, ""),
			with(command("seal", "seal the key service at once", noArgs, func(fs *pflag.FlagSet) runFunc { return cmdKeydSealStatus("seal", fs) }), clientHelp, ""),
			with(command("status", "show the key service's state (health only when not signed in)", noArgs, func(fs *pflag.FlagSet) runFunc { return cmdKeydSealStatus("status", fs) }), clientHelp, ""),
		),
		keyCommands(),
		group("secret", "hatoba's own secrets (provider credentials), encrypted through the key service",
			with(command("put NAME", "store a secret; the value is read from standard input (central operators)", anyArgs, func(fs *pflag.FlagSet) runFunc { return cmdSecret("put", fs) }),
				clientHelp+"\n\nRefer to it in the configuration as secret:NAME.", "  printf '%s\\n' \"$AWS_SECRET_ACCESS_KEY\" | hatoba secret put provider/prod"),
			with(command("list", "list the secrets' names", noArgs, func(fs *pflag.FlagSet) runFunc { return cmdSecret("list", fs) }), clientHelp, ""),
		),
		with(command("scan FILE…|-", "check Terraform plans and CloudFormation templates against the proactive controls, offline", anyArgs, cmdScan),
			"FILE is a Terraform plan as `terraform show -json` prints it, or a CloudFormation\ntemplate (YAML or JSON); - reads standard input. It fails (exit 1) when a\nviolation is at or above --fail-on.",
			"  hatoba scan --format sarif examples/plan.json examples/template.yaml\n  terraform show -json plan.out | hatoba scan -"),
		group("control", "custom controls and collection (docs/controls.md)",
			with(command("add DIR", "upload a custom control (control.yaml, policy.rego, policy_test.rego) to the server", oneArg, cmdControlAdd), clientHelp, ""),
			command("test DIR", "run a custom control's tests offline", oneArg, cmdControlTest),
			with(command("collect", "collect every ready environment's inventory now (central operators)", noArgs, cmdControlCollect), clientHelp, "  hatoba control collect --wait"),
		),
		backupCommands(),
		with(command("restore", "restore a backup into an empty database (exit 3 when its signature, checksum or key does not match)", noArgs, cmdRestore),
			serverHelp, "  hatoba restore --into postgres://postgres@127.0.0.1:5432/restored"),
		with(command("export", "export the whole platform (or one organisation's subtree) in open formats, signed", noArgs, cmdExport),
			serverHelp, "  hatoba export --out export/\n  hatoba export verify export/"),
		with(command("import", "make a fresh installation's database from an export", noArgs, cmdImport), serverHelp, ""),
		with(command("exit-drill", "export, import into a new database (SQLite → PostgreSQL), compare, report", noArgs, cmdExitDrill), serverHelp, ""),
		notifyCommands(),
		group("baseline", "baseline products (docs/baselines.md)",
			with(command("verify FILE", "verify a baseline release (as the API returns it) offline", oneArg, cmdBaselineVerify), "",
				"  hatoba baseline verify --key \"$HATOBA_AUDIT_KEY\" release.json")),
		command("version", "print hatoba's version and schema version", noArgs, func(*pflag.FlagSet) runFunc {
			return func(_ context.Context, _ []string, _ io.Reader, stdout, _ io.Writer) error {
				fmt.Fprintf(stdout, "hatoba %s (schema %d)\n", version, latestSchema())
				return nil
			}
		}),
	)
	// export verify sits under export, which runs on its own too.
	for _, c := range root.Commands() {
		if c.Name() == "export" {
			c.AddCommand(command("verify DIR", "check an export offline: the manifest's signature and every file's checksum", oneArg, cmdExportVerify))
		}
	}
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	return root
}

func keyCommands() *cobra.Command {
	key := func(use, sub, short string, args cobra.PositionalArgs) *cobra.Command {
		return with(command(use, short, args, func(fs *pflag.FlagSet) runFunc { return cmdKey(sub, fs) }),
			clientHelp+"\n\nA key owner's changes are confirmed with the card (--token-label, PIN as for\nlogin; docs/keys.md).", "")
	}
	return group("key", "a tenant's keys, kill switch and XKS credentials (key owners)",
		key("list", "list", "list the organisation's keys", noArgs),
		with(key("create", "create", "create a key", noArgs), "", "  hatoba key create --id k1"),
		key("rotate KEY", "rotate", "rotate a key to a new version", oneArg),
		key("disable KEY", "disable", "disable a key", oneArg),
		key("enable KEY", "enable", "enable a disabled key", oneArg),
		key("usage [KEY USAGE]", "usage", "set a key's usage, or show the usage record", anyArgs),
		with(key("kill", "kill", "the kill switch: make every key of the organisation unusable at once", noArgs), "", "  hatoba key kill --confirm lg-131016"),
		key("revive", "revive", "undo the kill switch", noArgs),
		group("credential", "the XKS proxy's credentials",
			key("create", "credential create", "create an XKS credential", noArgs),
			key("list", "credential list", "list XKS credentials", noArgs),
			key("revoke AKID", "credential revoke", "revoke an XKS credential", oneArg),
		),
	)
}

func backupCommands() *cobra.Command {
	backup := func(use, sub, short string) *cobra.Command {
		return with(command(use, short, noArgs, func(fs *pflag.FlagSet) runFunc { return cmdBackup(sub, fs) }),
			serverHelp+"\n\nrun and drill unseal the key service here: shares on standard input, or\nHATOBA_KEYD_HSM_PIN (docs/backup.md).", "")
	}
	b := backup("backup", "run", "back up to the configured S3 bucket (Object Lock); without a subcommand: run")
	b.AddCommand(
		backup("run", "run", "back up now"),
		backup("drill", "drill", "restore the newest backup into a scratch database and measure RTO and RPO"),
		backup("list", "list", "list backups and runs"),
	)
	return b
}

func notifyCommands() *cobra.Command {
	n := func(use, sub, short string, args cobra.PositionalArgs) *cobra.Command {
		return with(command(use, short, args, func(fs *pflag.FlagSet) runFunc { return cmdNotify(sub, fs) }), clientHelp, "")
	}
	sub := func(use, short string, args cobra.PositionalArgs, build func(string, *pflag.FlagSet) runFunc) *cobra.Command {
		name, _, _ := strings.Cut(use, " ")
		return with(command(use, short, args, func(fs *pflag.FlagSet) runFunc { return build(name, fs) }), clientHelp, "")
	}
	return group("notify", "notifications: channels, deliveries, suppressions, notices, digests (docs/notifications.md)",
		n("channels", "channels", "list the channels", noArgs),
		group("channel", "add, change, test or delete a channel",
			with(sub("add", "add a channel", noArgs, cmdNotifyChannel), clientHelp,
				"  hatoba notify channel add --org lg-131016 --name ops --kind slack --url https://hooks.slack.com/…"),
			sub("update CHANNEL", "change a channel", anyArgs, cmdNotifyChannel),
			sub("test CHANNEL", "send a test message", anyArgs, cmdNotifyChannel),
			sub("delete CHANNEL", "delete a channel", anyArgs, cmdNotifyChannel),
		),
		n("deliveries", "deliveries", "list the outbox (--state dead: the dead letters)", noArgs),
		n("retry DELIVERY", "retry", "retry a delivery", anyArgs),
		n("events", "events", "list an organisation's events", noArgs),
		n("suppress", "suppress", "suppress findings for a while, saying why", noArgs),
		n("suppressions", "suppressions", "list suppressions", noArgs),
		n("lift SUPPRESSION", "lift", "lift a suppression", anyArgs),
		n("ingest-token", "ingest-token", "make the token outside finding sources post with", noArgs),
		n("notices", "notices", "list notices", noArgs),
		group("notice", "central's notices to an organisation",
			sub("send EVENT", "send a notice about an event", anyArgs, cmdNotifyNotice),
			sub("ack NOTICE", "acknowledge a notice", anyArgs, cmdNotifyNotice),
			sub("fix NOTICE", "report a notice's cause fixed", anyArgs, cmdNotifyNotice),
		),
		n("digests", "digests", "list central's digests", noArgs),
		group("digest", "central's critical digest",
			sub("make", "make a digest now", noArgs, cmdNotifyDigest),
			sub("show DIGEST", "print a digest's signed text", anyArgs, cmdNotifyDigest),
			sub("verify FILE", "verify a digest offline with the platform's public key", anyArgs, cmdNotifyDigest),
		),
		n("settings", "settings", "show or change the SMTP relay and the digests' periods (central operators)", noArgs),
	)
}
