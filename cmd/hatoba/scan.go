package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/iac"
)

// cmdScan checks infrastructure code (Terraform plans as terraform show
// -json gives them, CloudFormation templates) against the built-in
// proactive controls, offline: no server, no database. It fails when a
// violation is at or above --fail-on. FILE "-" is standard input
// (terraform show -json plan.out | hatoba scan -).
func cmdScan(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	format := fs.String("format", "text", "output: text, json or sarif")
	failOn := fs.String("fail-on", string(controls.High), "fail when a violation is this severe or more: critical, high, medium, low, informational, or none")
	out := fs.String("out", "", "write the report to FILE instead of standard output")
	region := fs.String("region", "", "the region of resources whose code names none (CloudFormation templates), for the region controls")
	params := paramFlag{}
	fs.Var(params, "param", "a CloudFormation parameter's value, KEY=VALUE (repeat for more); it wins over the parameter's Default")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: hatoba scan [--format text|json|sarif] [--fail-on SEVERITY] [--out FILE] [--region R] [--param KEY=VALUE]… FILE…|-")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	write, ok := map[string]func(io.Writer, iac.Report) error{
		"text":  iac.WriteText,
		"json":  iac.WriteJSON,
		"sarif": func(w io.Writer, r iac.Report) error { return iac.WriteSARIF(w, r, version) },
	}[*format]
	if !ok {
		return usageError{fmt.Sprintf("scan: --format must be text, json or sarif, not %q", *format)}
	}
	threshold := controls.Severity(strings.ToLower(*failOn))
	if threshold != "none" && threshold.Rank() < 0 {
		return usageError{fmt.Sprintf("scan: --fail-on must be critical, high, medium, low, informational or none, not %q", *failOn)}
	}
	if fs.NArg() == 0 {
		return usageError{"scan needs at least one FILE (a Terraform plan as JSON or a CloudFormation template)"}
	}
	files := make([]iac.File, 0, fs.NArg())
	for _, name := range fs.Args() {
		if name == "-" {
			b, err := io.ReadAll(stdin)
			if err != nil {
				return fmt.Errorf("scan: standard input: %w", err)
			}
			files = append(files, iac.File{Name: "stdin", Data: b, Region: *region, Params: params})
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		files = append(files, iac.File{Name: displayPath(name), Data: b, Region: *region, Params: params})
	}
	cs, err := controls.Builtin()
	if err != nil {
		return err
	}
	engine, err := controls.NewEngine(ctx, cs)
	if err != nil {
		return err
	}
	rep, err := iac.Scan(ctx, engine, files)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		if err := write(f, rep); err != nil {
			_ = f.Close()
			return fmt.Errorf("scan: writing %s: %w", *out, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("scan: writing %s: %w", *out, err)
		}
	} else if err := write(stdout, rep); err != nil {
		return err
	}
	if threshold == "none" {
		return nil
	}
	if n := rep.AtLeast(threshold); n > 0 {
		noun := "violations"
		if n == 1 {
			noun = "violation"
		}
		return fmt.Errorf("scan: %d %s at or above %s (--fail-on)", n, noun, threshold)
	}
	return nil
}

// displayPath is the path findings name: relative to the working
// directory when the file is under it, with forward slashes, as SARIF
// consumers resolve it against the checkout.
func displayPath(name string) string {
	if filepath.IsAbs(name) {
		if wd, err := os.Getwd(); err == nil {
			if rel, err := filepath.Rel(wd, name); err == nil && !strings.HasPrefix(rel, "..") {
				name = rel
			}
		}
	}
	return filepath.ToSlash(filepath.Clean(name))
}

// paramFlag collects --param KEY=VALUE: the values of CloudFormation
// parameters, as a deployment would give them (aws cloudformation deploy
// --parameter-overrides KEY=VALUE). A template without the parameter
// ignores it, so one scan can cover several templates.
type paramFlag map[string]string

func (p paramFlag) String() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k+"="+p[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (p paramFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want KEY=VALUE, not %q", v)
	}
	p[strings.TrimSpace(k)] = val
	return nil
}
