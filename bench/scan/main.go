// Command scan benchmarks hatoba scan on a large Terraform plan: it
// writes a synthetic plan (terraform show -json shape, resources of the
// catalog's types with planted non-compliance; internal/iac/iactest),
// builds hatoba, runs `hatoba scan` on it as a child process once per
// output format, and prints the input size, wall time, peak RSS (the
// child's rusage) and output bytes. With -baseline COMMIT it builds that
// commit too (git archive into a temporary directory, no worktree) and
// prints both side by side.
//
//	go run ./bench/scan -n 200000
//	go run ./bench/scan -n 200000 -baseline 82d910d
//	go run ./bench/scan -n 1000 -keep plan.json   # keep the generated plan
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/iac/iactest"
)

func main() {
	n := flag.Int("n", 200_000, "resources in the generated plan")
	formats := flag.String("formats", "text,json,sarif", "output formats to measure, comma-separated")
	baseline := flag.String("baseline", "", "a git commit (or ref) to build and measure beside the working tree's hatoba")
	unknownEvery := flag.Int("unknown-bucket-every", 0, "every Nth S3 companion names its bucket by reference (known after apply); 0: none")
	indent := flag.Bool("indent", false, "write the plan indented (terraform show -json writes one line)")
	full := flag.Bool("full", false, "write the plan as terraform does in full (planned_values, configuration, every attribute: about 1 KB a resource) instead of lean (resource_changes with the attributes the controls read: about 150 bytes a resource, the density of issue 10's plan)")
	keep := flag.String("keep", "", "write the plan to this file and keep it")
	extra := flag.String("args", "", "extra arguments for the current hatoba scan (space-separated), e.g. \"--max-findings-per-control 0\"")
	flag.Parse()
	if err := run(*n, strings.Split(*formats, ","), *baseline, *unknownEvery, *indent, !*full, *keep, strings.Fields(*extra)); err != nil {
		log.Fatal(err)
	}
}

type measure struct {
	wall time.Duration
	rss  int64 // bytes
	out  int64 // bytes
	exit int
}

func run(n int, formats []string, baseline string, unknownEvery int, indent, lean bool, keep string, extra []string) error {
	dir, err := os.MkdirTemp("", "bench-scan")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	plan := keep
	if plan == "" {
		plan = filepath.Join(dir, "plan.json")
	}
	t0 := time.Now()
	f, err := os.Create(plan)
	if err != nil {
		return err
	}
	if err := iactest.WritePlan(f, iactest.PlanOptions{Resources: n, UnknownBucketEvery: unknownEvery, Indent: indent, Lean: lean}); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	st, err := os.Stat(plan)
	if err != nil {
		return err
	}
	fmt.Printf("plan: %d resources, %.1f MiB (%s), generated in %s\n", n, float64(st.Size())/(1<<20), plan, time.Since(t0).Round(time.Millisecond))

	type bin struct{ name, path string }
	bins := []bin{}
	if baseline != "" {
		p, err := buildCommit(dir, baseline)
		if err != nil {
			return err
		}
		bins = append(bins, bin{"before (" + baseline + ")", p})
	}
	cur := filepath.Join(dir, "hatoba")
	if out, err := exec.Command("go", "build", "-o", cur, "./cmd/hatoba").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/hatoba: %w\n%s", err, out)
	}
	bins = append(bins, bin{"after (working tree)", cur})

	tw := tabwriter.NewWriter(os.Stdout, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tbinary\tformat\tinput\twall\tpeak RSS\toutput\texit\t")
	for _, format := range formats {
		for i, b := range bins {
			args := []string{"scan", "--format", format, "--fail-on", "high", "--out", filepath.Join(dir, "out")}
			if i == len(bins)-1 {
				args = append(args, extra...)
			}
			m, err := scan(b.path, append(args, plan))
			if err != nil {
				return fmt.Errorf("%s: %w", b.name, err)
			}
			fmt.Fprintf(tw, "\t%s\t%s\t%.1f MiB\t%s\t%d MiB\t%s\t%d\t\n", b.name, format, float64(st.Size())/(1<<20),
				m.wall.Round(10*time.Millisecond), m.rss>>20, size(m.out), m.exit)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Println("\npeak RSS is the scan process's maximum resident set (getrusage ru_maxrss); exit 1 is the planted violations at or above high.")
	return nil
}

func size(b int64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// scan runs one hatoba scan as a child process and measures it.
func scan(bin string, args []string) (measure, error) {
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	m := measure{wall: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 1 && strings.Contains(stderr.String(), "at or above"):
		m.exit = 1
	case err != nil:
		return m, fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args, " "), err, stderr.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rss = ru.Maxrss << 10 // kilobytes on Linux
	}
	out := args[len(args)-2]
	for i, a := range args {
		if a == "--out" {
			out = args[i+1]
		}
	}
	st, err := os.Stat(out)
	if err != nil {
		return m, err
	}
	m.out = st.Size()
	return m, os.Remove(out)
}

// buildCommit builds hatoba as it was at commit, from git archive's copy
// of the tree (no worktree, nothing in the repository changes).
func buildCommit(dir, commit string) (string, error) {
	src := filepath.Join(dir, "baseline")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	archive := exec.Command("sh", "-c", "git archive --format=tar "+shellQuote(commit)+" | tar -x -C "+shellQuote(src))
	if out, err := archive.CombinedOutput(); err != nil {
		return "", fmt.Errorf("git archive %s: %w\n%s", commit, err, out)
	}
	bin := filepath.Join(dir, "hatoba-baseline")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hatoba")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", commit, err, out)
	}
	return bin, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
