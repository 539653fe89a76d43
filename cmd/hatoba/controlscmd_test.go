package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeControl writes a custom control directory with the given policy.
func writeControl(t *testing.T, policy, tests string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "org-no-public-ip")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := `id: org-no-public-ip
title: {ja: パブリック IP を持たない, en: No public IP}
description: {ja: 府省の方針でインスタンスは公開 IP を持たない。, en: By ministry policy instances have no public IP.}
severity: medium
kinds: [detective, proactive]
resource_types: [aws_instance]
remediation: {ja: 公開 IP を外す。, en: Remove the public IP.}
frameworks: {nist_800_53: [SC-7]}
`
	for name, body := range map[string]string{"control.yaml": meta, "policy.rego": policy, "policy_test.rego": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// hatoba control test: an author's control is compiled with the catalog
// and its tests run offline; a broken one is refused with the message.
func TestControlTestCommand(t *testing.T) {
	t.Parallel()
	policy := `package hatoba.controls.org_no_public_ip

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_instance")
	r.config.associate_public_ip_address == true
	f := lib.finding(r, "the instance has a public IP")
}
`
	tests := `package hatoba.controls.org_no_public_ip_test

import data.hatoba.controls.org_no_public_ip
import rego.v1

test_public_denied if {
	count(org_no_public_ip.deny) == 1 with input as {"hatoba_resources": [{"type": "aws_instance", "id": "i-1", "config": {"associate_public_ip_address": true}}]}
}

test_private_passes if {
	count(org_no_public_ip.deny) == 0 with input as {"hatoba_resources": [{"type": "aws_instance", "id": "i-1", "config": {"associate_public_ip_address": false}}]}
}
`
	cases := []struct {
		name          string
		policy, tests string
		wantErr       string
		wantOut       string
	}{
		{"a good control", policy, tests, "", "ok org-no-public-ip"},
		{"Rego that does not parse", strings.Replace(policy, "deny contains f if {", "deny contains f if {{", 1), tests, "rego_parse_error", ""},
		{"a failing test", policy, strings.Replace(tests, "== 0 with", "== 1 with", 1), "test_private_passes", "FAIL test_private_passes"},
	}
	for _, tc := range cases {
		dir := writeControl(t, tc.policy, tc.tests)
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"control", "test", dir}, &out, &errOut)
		if tc.wantErr == "" && err != nil {
			t.Errorf("%s: %v\n%s", tc.name, err, out.String())
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: err = %v, want one naming %q", tc.name, err, tc.wantErr)
		}
		if !strings.Contains(out.String(), tc.wantOut) {
			t.Errorf("%s: output %q lacks %q", tc.name, out.String(), tc.wantOut)
		}
	}
}
