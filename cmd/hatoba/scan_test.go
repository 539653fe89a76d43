package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const iacTestdata = "../../internal/iac/testdata/"

// The scan command runs offline on the built-in catalog. The built-in
// catalog grows, so these tests look for aws-iam-no-users' findings and
// use a clean file that no control reads (an unmapped CloudFormation type).
func TestScanCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "notes.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Pod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string // "" for success
		usage   bool
		check   func(t *testing.T, out string)
	}{
		{name: "fail/violations-at-default-threshold", args: []string{iacTestdata + "template.yaml"},
			wantErr: "at or above high", check: func(t *testing.T, out string) {
				if !strings.Contains(out, "aws-iam-no-users  Deployer  ../../internal/iac/testdata/template.yaml:9") ||
					!strings.Contains(out, " violations in 1 file (") {
					t.Errorf("text output:\n%s", out)
				}
			}},
		{name: "ok/fail-on-none", args: []string{"--fail-on", "none", iacTestdata + "template.yaml"}},
		{name: "ok/clean-file", args: []string{iacTestdata + "clean.yaml"}, check: func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "0 violations in 1 file (1 resource, ") {
				t.Errorf("text output:\n%s", out)
			}
		}},
		{name: "ok/json", args: []string{"--format", "json", "--fail-on", "none", iacTestdata + "plan.json", iacTestdata + "template.json"},
			check: func(t *testing.T, out string) {
				var results []struct {
					ControlID string `json:"control_id"`
					Resource  string `json:"resource"`
					File      string `json:"file"`
					Line      int    `json:"line"`
					Title     struct{ Ja, En string }
				}
				if err := json.Unmarshal([]byte(out), &results); err != nil {
					t.Fatalf("%v:\n%s", err, out)
				}
				for _, r := range results {
					if r.ControlID == "aws-iam-no-users" && r.Resource == "aws_iam_user.deployer" &&
						r.File == "../../internal/iac/testdata/plan.json" && r.Line == 58 && r.Title.Ja != "" {
						return
					}
				}
				t.Errorf("no aws-iam-no-users result for aws_iam_user.deployer:\n%s", out)
			}},
		{name: "fail/sarif-to-file", args: []string{"--format", "sarif", "--out", filepath.Join(dir, "scan.sarif"), iacTestdata + "template.yaml"},
			wantErr: "at or above high", check: func(t *testing.T, out string) {
				if out != "" {
					t.Errorf("--out wrote to standard output too: %q", out)
				}
				b, err := os.ReadFile(filepath.Join(dir, "scan.sarif"))
				if err != nil {
					t.Fatal(err)
				}
				var log struct {
					Version string `json:"version"`
					Runs    []struct {
						Results []struct {
							RuleID string `json:"ruleId"`
						} `json:"results"`
					} `json:"runs"`
				}
				if err := json.Unmarshal(b, &log); err != nil || log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) == 0 {
					t.Errorf("SARIF (%v):\n%s", err, b)
				}
			}},
		{name: "fail/parameter-defaults-open-ssh", args: []string{"--fail-on", "critical", iacTestdata + "cfn-params.yaml"},
			wantErr: "at or above critical", check: func(t *testing.T, out string) {
				if !strings.Contains(out, "aws-sg-no-public-admin-ports  BastionSecurityGroup") {
					t.Errorf("the defaulted 0.0.0.0/0 was not followed:\n%s", out)
				}
			}},
		{name: "ok/param-overrides-defaults", args: []string{"--fail-on", "critical", "--param", "SSHLocation=10.0.0.0/8",
			"--param", "RDPRange=fd00::/8", "--param", "Env=prod", iacTestdata + "cfn-params.yaml"},
			check: func(t *testing.T, out string) {
				if strings.Contains(out, "aws-sg-no-public-admin-ports") || !strings.Contains(out, "aws-kms-rotation  ScratchKey") {
					t.Errorf("--param not applied:\n%s", out)
				}
			}},
		{name: "fail/bad-param", args: []string{"--param", "Env", iacTestdata + "cfn-params.yaml"}, wantErr: "KEY=VALUE", usage: true},
		{name: "fail/fail-on-low-counts-more", args: []string{"--fail-on", "LOW", iacTestdata + "template.yaml"}, wantErr: "at or above low"},
		{name: "fail/no-file", args: nil, wantErr: "at least one FILE", usage: true},
		{name: "fail/bad-format", args: []string{"--format", "xml", iacTestdata + "clean.yaml"}, wantErr: "--format", usage: true},
		{name: "fail/bad-threshold", args: []string{"--fail-on", "severe", iacTestdata + "clean.yaml"}, wantErr: "--fail-on", usage: true},
		{name: "fail/bad-flag", args: []string{"--colour", iacTestdata + "clean.yaml"}, wantErr: "colour", usage: true},
		{name: "fail/missing-file", args: []string{filepath.Join(dir, "nope.json")}, wantErr: "nope.json"},
		{name: "fail/not-infrastructure-code", args: []string{bad}, wantErr: "notes.yaml: neither a Terraform plan"},
		{name: "fail/larger-than-max-input-size", args: []string{"--max-input-size", "1KiB", iacTestdata + "plan.json"},
			wantErr: "../../internal/iac/testdata/plan.json (6452 bytes) is larger than --max-input-size 1 KiB"},
		{name: "ok/max-input-size-in-bytes", args: []string{"--max-input-size", "100000", "--fail-on", "none", iacTestdata + "plan.json"}},
		{name: "fail/bad-max-input-size", args: []string{"--max-input-size", "lots", iacTestdata + "plan.json"}, wantErr: "256MiB", usage: true},
		{name: "fail/negative-max-findings", args: []string{"--max-findings-per-control", "-1", iacTestdata + "plan.json"},
			wantErr: "--max-findings-per-control", usage: true},
		{name: "ok/max-findings-per-control", args: []string{"--max-findings-per-control", "1", "--fail-on", "none", iacTestdata + "cfn-params.yaml", iacTestdata + "template.yaml"},
			check: func(t *testing.T, out string) {
				if !strings.Contains(out, "more violation") || !strings.Contains(out, "(at most 1 violations listed per control)") {
					t.Errorf("text output:\n%s", out)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			err := run(context.Background(), append([]string{"scan"}, tc.args...), &out, &errOut)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			var ue usageError
			if got := errors.As(err, &ue); got != tc.usage {
				t.Fatalf("usage error %v, want %v (exit status 2 only for usage errors): %v", got, tc.usage, err)
			}
			if tc.check != nil {
				tc.check(t, out.String())
			}
		})
	}
}

// FILE "-" reads standard input: terraform show -json plan.out | hatoba scan -.
func TestScanCommandStdin(t *testing.T) {
	t.Parallel()
	plan, err := os.ReadFile(iacTestdata + "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = runIO(context.Background(), []string{"scan", "--fail-on", "none", "-"}, bytes.NewReader(plan), &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "aws-iam-no-users  aws_iam_user.deployer  stdin:58") {
		t.Fatalf("output:\n%s", out.String())
	}
}

// Standard input is bounded by --max-input-size too, and named.
func TestScanCommandStdinTooLarge(t *testing.T) {
	t.Parallel()
	plan, err := os.ReadFile(iacTestdata + "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = runIO(context.Background(), []string{"scan", "--max-input-size", "4KiB", "-"}, bytes.NewReader(plan), &out, &errOut)
	if err == nil || err.Error() != "scan: stdin is larger than --max-input-size 4 KiB" {
		t.Fatalf("error %v", err)
	}
}
