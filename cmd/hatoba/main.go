// Command hatoba is the control plane of a sovereign government cloud: one
// binary that serves the API, the console and the vending workers, and holds
// the operator's and pipelines' subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitUsage is the status of a command line hatoba cannot read.
const exitUsage = 2

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runIO(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, errorText(err))
		os.Exit(exitCode(err))
	}
}

// errorText is what the person reads when a command fails: one line, and
// for a command line hatoba cannot read, where the usage is (not the whole
// usage, which would scroll the message away).
func errorText(err error) string {
	var h usageHint
	if errors.As(err, &h) {
		return fmt.Sprintf("hatoba: %v\nrun '%s --help' for usage", err, h.command)
	}
	return fmt.Sprintf("hatoba: %v", err)
}

// usageError is a command line hatoba cannot read.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usageHint is a usageError with the command whose help says how.
type usageHint struct {
	err     error
	command string
}

func (e usageHint) Error() string { return e.err.Error() }
func (e usageHint) Unwrap() error { return e.err }

// run runs the command line args with os.Stdin as standard input.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runIO(ctx, args, os.Stdin, stdout, stderr)
}

// runIO runs the command line args (without the program name).
func runIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return nil
	}
	if errors.As(err, new(usageError)) {
		return usageHint{err: err, command: cmd.CommandPath()}
	}
	return err
}

// settingFlags are the flags every server-side subcommand accepts.
type settingFlags struct {
	config string
	sets   map[string]string
}

func addSettingFlags(fs *pflag.FlagSet) *settingFlags {
	s := &settingFlags{sets: map[string]string{}}
	fs.StringVar(&s.config, "config", os.Getenv("HATOBA_CONFIG"), "YAML configuration file ($HATOBA_CONFIG)")
	for _, f := range []struct{ name, key, help string }{
		{"database-url", "database_url", "the database: a SQLite path or postgres://… `URL` ($HATOBA_DATABASE_URL)"},
		{"log-level", "log_level", "`LEVEL`: debug, info, warn or error ($HATOBA_LOG_LEVEL)"},
	} {
		key := f.key
		fs.Func(f.name, f.help, func(v string) error { s.sets[key] = v; return nil })
	}
	fs.Func("set", "`key=value` for any setting, e.g. simcloud.latency=1s (repeatable; $HATOBA_<KEY> too)", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("--set needs key=value, not %q", v)
		}
		s.sets[k] = val
		return nil
	})
	return s
}

// addListenFlag gives a command that listens its --listen, setting key
// (only those: elsewhere the address would mean nothing).
func addListenFlag(fs *pflag.FlagSet, s *settingFlags, key, help string) {
	fs.Func("listen", help, func(v string) error { s.sets[key] = v; return nil })
}
