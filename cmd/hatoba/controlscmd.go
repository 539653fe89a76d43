package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// cmdControlCollect starts a round collecting every ready environment's
// inventory (central operators) and, with --wait, follows its progress
// until it ends.
func cmdControlCollect(fs *pflag.FlagSet) runFunc {
	cf := addClientFlags(fs)
	wait := fs.Bool("wait", false, "follow the round's progress until it ends")
	asJSON := fs.Bool("json", false, "print the round as JSON")
	every := fs.Duration("every", time.Second, "with --wait, how often to look")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		if len(args) != 0 {
			return usageError{"control collect takes no arguments"}
		}
		c, err := newClient(cf)
		if err != nil {
			return err
		}
		var r posture.Round
		if _, err := c.do(ctx, "POST", "/api/v1/posture/rounds", map[string]string{}, nil, &r); err != nil {
			return fmt.Errorf("control collect: %w", err)
		}
		fmt.Fprintf(stderr, "collection round %s started over %d environments\n", r.ID, r.Total)
		for *wait && r.State == posture.RoundRunning {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(*every):
			}
			if _, err := c.do(ctx, "GET", "/api/v1/posture/rounds/"+url.PathEscape(r.ID), nil, nil, &r); err != nil {
				return fmt.Errorf("control collect: %w", err)
			}
			fmt.Fprintf(stderr, "\rcollected %d of %d environments (%d failed)", r.Done+r.Failed, r.Total, r.Failed)
		}
		if *wait {
			fmt.Fprintln(stderr)
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(r)
		}
		fmt.Fprintf(stdout, "%s %s: %d of %d environments collected, %d failed\n", r.ID, r.State, r.Done, r.Total, r.Failed)
		if *wait && r.State != posture.RoundFinished {
			return fmt.Errorf("control collect: round %s was %s", r.ID, r.State)
		}
		return nil
	}
}

func controlDir(args []string, name string) (string, error) {
	if len(args) != 1 {
		return "", usageError{"control " + name + " needs one DIR holding control.yaml, policy.rego and policy_test.rego"}
	}
	return args[0], nil
}

// cmdControlAdd posts a control directory to the server; a refusal's
// message (the compiler's, the failing test's) is the error.
func cmdControlAdd(fs *pflag.FlagSet) runFunc {
	cf := addClientFlags(fs)
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		dir, err := controlDir(args, "add")
		if err != nil {
			return err
		}
		read := func(name string) (string, error) {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return "", fmt.Errorf("control add: %w", err)
			}
			return string(b), nil
		}
		var in struct {
			Metadata string `json:"metadata"`
			Policy   string `json:"policy"`
			Tests    string `json:"tests"`
		}
		for _, f := range []struct {
			name string
			to   *string
		}{{"control.yaml", &in.Metadata}, {"policy.rego", &in.Policy}, {"policy_test.rego", &in.Tests}} {
			if *f.to, err = read(f.name); err != nil {
				return err
			}
		}
		c, err := newClient(cf)
		if err != nil {
			return err
		}
		var out api.AddedControl
		if _, err := c.do(ctx, "POST", "/api/v1/controls", in, nil, &out); err != nil {
			return fmt.Errorf("control add: %w", err)
		}
		for _, r := range out.TestResults {
			fmt.Fprintf(stdout, "PASS %s\n", r.Name)
		}
		fmt.Fprintf(stdout, "added %s (%s); assign it to organisations to evaluate it there\n", out.ID, out.Title.En)
		return nil
	}
}

// cmdControlTest loads a control directory, compiles it with the
// built-in controls and runs its tests, printing each result.
func cmdControlTest(fs *pflag.FlagSet) runFunc {
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		dir, err := controlDir(args, "test")
		if err != nil {
			return err
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		c, err := controls.LoadDir(os.DirFS(filepath.Dir(abs)), filepath.Base(abs))
		if err != nil {
			return fmt.Errorf("control test: %w", err)
		}
		builtin, err := controls.Builtin()
		if err != nil {
			return err
		}
		_, results, err := controls.Check(ctx, builtin, nil, c)
		for _, r := range results {
			status := "PASS"
			if !r.Pass {
				status = "FAIL"
			}
			fmt.Fprintf(stdout, "%s %s", status, r.Name)
			if r.Message != "" {
				fmt.Fprintf(stdout, ": %s", r.Message)
			}
			fmt.Fprintln(stdout)
		}
		if err != nil {
			return fmt.Errorf("control test: %w", err)
		}
		fmt.Fprintf(stdout, "ok %s: compiles with the %d built-in controls, %d tests pass\n", c.ID, len(builtin), len(results))
		return nil
	}
}
