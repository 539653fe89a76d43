package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/iac"
)

// cmdScan checks infrastructure code (Terraform plans as terraform show
// -json gives them, CloudFormation templates) against the built-in
// proactive controls, offline: no server, no database. It fails when a
// violation is at or above --fail-on. FILE "-" is standard input
// (terraform show -json plan.out | hatoba scan -).
func cmdScan(fs *pflag.FlagSet) runFunc {
	format := fs.String("format", "text", "output: text, json or sarif")
	failOn := fs.String("fail-on", string(controls.High), "fail when a violation is this severe or more: critical, high, medium, low, informational, or none")
	out := fs.String("out", "", "write the report to FILE instead of standard output")
	region := fs.String("region", "", "the region of resources whose code names none (CloudFormation templates), for the region controls")
	maxInput := sizeFlag(defaultMaxInput)
	fs.Var(&maxInput, "max-input-size", "refuse a FILE larger than this (bytes, or with KiB, MiB, GiB)")
	maxPerControl := fs.Int("max-findings-per-control", iac.DefaultMaxPerControl,
		"text output: list at most this many violations of each control and count the rest (0 lists all; json and sarif always have all)")
	params := paramFlag{}
	fs.Var(params, "param", "a CloudFormation parameter's value, KEY=VALUE (repeat for more); it wins over the parameter's Default")
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		write, ok := map[string]func(io.Writer, iac.Report) error{
			"text":  func(w io.Writer, r iac.Report) error { return iac.WriteText(w, r, *maxPerControl) },
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
		if *maxPerControl < 0 {
			return usageError{fmt.Sprintf("scan: --max-findings-per-control must be 0 (all) or more, not %d", *maxPerControl)}
		}
		if len(args) == 0 {
			return usageError{"scan needs at least one FILE (a Terraform plan as JSON or a CloudFormation template)"}
		}
		files := make([]iac.File, 0, len(args))
		for _, name := range args {
			f, err := inputFile(name, stdin, int64(maxInput))
			if err != nil {
				return fmt.Errorf("scan: %w", err)
			}
			f.Region, f.Params = *region, params
			files = append(files, f)
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
}

// defaultMaxInput bounds one input file: a plan of 200,000 resources is
// 30–50 MB, and a scan streams it in a few hundred megabytes (docs/controls.md).
const defaultMaxInput = 256 << 20

// inputFile opens name for the scan ("-" is standard input). A regular
// file larger than limit is refused before it is read and is streamed
// from disk (iac.File.Open); standard input and other files that cannot
// be read twice are read into memory, up to limit.
func inputFile(name string, stdin io.Reader, limit int64) (iac.File, error) {
	tooLarge := func(what string) error {
		return fmt.Errorf("%s is larger than --max-input-size %s", what, sizeFlag(limit))
	}
	inMemory := func(display string, r io.Reader) (iac.File, error) {
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return iac.File{}, fmt.Errorf("%s: %w", display, err)
		}
		if int64(len(b)) > limit {
			return iac.File{}, tooLarge(display)
		}
		return iac.File{Name: display, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}, nil
	}
	if name == "-" {
		return inMemory("stdin", stdin)
	}
	display := displayPath(name)
	st, err := os.Stat(name)
	if err != nil {
		return iac.File{}, err
	}
	if !st.Mode().IsRegular() {
		f, err := os.Open(name)
		if err != nil {
			return iac.File{}, err
		}
		defer f.Close() //nolint:errcheck // read-only file
		return inMemory(display, f)
	}
	if st.Size() > limit {
		return iac.File{}, fmt.Errorf("%s (%s) is larger than --max-input-size %s", display, sizeFlag(st.Size()), sizeFlag(limit))
	}
	return iac.File{Name: display, Open: func() (io.ReadCloser, error) { return os.Open(name) }}, nil
}

// sizeFlag is a size in bytes, written and read with a binary unit
// (256MiB, 64KiB, 1GiB) or as a number of bytes.
type sizeFlag int64

func (s sizeFlag) Type() string { return "size" }

func (s sizeFlag) String() string {
	for _, u := range []struct {
		name  string
		shift uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if s >= 1<<u.shift && s%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", s>>u.shift, u.name)
		}
	}
	if s >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(s)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", int64(s))
}

func (s *sizeFlag) Set(v string) error {
	num := strings.TrimSpace(v)
	shift := uint(0)
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"G", 30}, {"M", 20}, {"K", 10}, {"B", 0}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, shift = strings.TrimSpace(n), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return fmt.Errorf("want a size such as 256MiB, not %q", v)
	}
	*s = sizeFlag(n << shift)
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

func (p paramFlag) Type() string { return "KEY=VALUE" }

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
