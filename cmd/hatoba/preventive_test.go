package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// TestPreventivePolicies: a preventive control assigned to an organisation
// renders nothing while it detects; promoted to enforce, it is in the
// policies of environments of the organisation and its descendants, and
// not in those of an organisation outside the subtree.
func TestPreventivePolicies(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		orgs := org.New(db, time.Now)
		for _, o := range []org.Organization{
			{ID: "nat-cao", Kind: org.KindNational, NameJa: "内閣府", NameEn: "Cabinet Office"},
			{ID: "nat-caa", Kind: org.KindNational, NameJa: "消費者庁", NameEn: "Consumer Affairs Agency", ParentID: "nat-cao"},
			{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁", NameEn: "Digital Agency"},
		} {
			if _, err := orgs.Create(ctx, audit.Acting{Actor: "system"}, o); err != nil {
				t.Fatal(err)
			}
		}
		cs, err := controls.Builtin()
		if err != nil {
			t.Fatal(err)
		}
		cat, err := controls.OpenCatalog(ctx, controls.NewStore(db, time.Now))
		if err != nil {
			t.Fatal(err)
		}
		as := assignments.New(db, cat.Control, time.Now)
		op := authz.Principal{PersonID: "p-op", Role: authz.CentralOperator}

		base := baselinePolicies()
		set := preventivePolicies(orgs, as, cat.Control, base)
		envOf := map[string]env.Environment{
			"parent":  {ID: "env-cao", OrgID: "nat-cao"},
			"child":   {ID: "env-caa", OrgID: "nat-caa"},
			"outside": {ID: "env-digital", OrgID: "nat-digital"},
		}
		carries := func(ps []provider.Policy, control string) bool {
			return slices.ContainsFunc(ps, func(p provider.Policy) bool { return strings.Contains(p.Description, control) })
		}
		check := func(stage string, want map[string]bool) {
			t.Helper()
			for name, en := range envOf {
				ps, err := set(ctx, en)
				if err != nil {
					t.Fatalf("%s/%s: %v", stage, name, err)
				}
				if len(ps) == 0 || ps[0].Name != base[0].Name {
					t.Errorf("%s/%s: %v does not begin with the baseline", stage, name, ps)
				}
				if got := carries(ps, "aws-region-domestic"); got != want[name] {
					t.Errorf("%s/%s: aws-region-domestic rendered %v, want %v (%d policies)", stage, name, got, want[name], len(ps))
				}
				if len(ps) > controls.SCPMaxPerTarget-1 {
					t.Errorf("%s/%s: %d policies leave FullAWSAccess no slot", stage, name, len(ps))
				}
			}
		}

		check("unassigned", nil)
		a, err := as.Assign(ctx, op, "aws-region-domestic", "nat-cao")
		if err != nil {
			t.Fatal(err)
		}
		check("detect", nil)
		if _, err := as.Promote(ctx, op, a.ID, a.ID, assignments.Impact{}); err != nil {
			t.Fatal(err)
		}
		check("enforce", map[string]bool{"parent": true, "child": true})

		// Every built-in preventive control enforced everywhere still fits the
		// three slots left beside the baseline.
		for _, c := range cs {
			if !c.Has(controls.Preventive) || c.ID == "aws-region-domestic" {
				continue
			}
			a, err := as.Assign(ctx, op, c.ID, assignments.Everywhere)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := as.Promote(ctx, op, a.ID, a.ID, assignments.Impact{}); err != nil {
				t.Fatal(err)
			}
		}
		ps, err := set(ctx, envOf["outside"])
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 2 || carries(ps, "aws-region-domestic") || !carries(ps, "aws-iam-no-users") {
			t.Errorf("outside, everything else enforced everywhere: %d policies %+v", len(ps), ps)
		}

		// A custom preventive control enforced everywhere is rendered too.
		c, err := controls.ParseMetadata([]byte(customPreventiveMeta))
		if err != nil {
			t.Fatal(err)
		}
		c.Policy, c.Tests = customPreventivePolicy, customPreventiveTests
		if _, res, err := cat.Add(ctx, "p-op", c); err != nil {
			t.Fatalf("%v %+v", err, res)
		}
		a, err = as.Assign(ctx, op, c.ID, assignments.Everywhere)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := as.Promote(ctx, op, a.ID, a.ID, assignments.Impact{}); err != nil {
			t.Fatal(err)
		}
		ps, err = set(ctx, envOf["outside"])
		if err != nil {
			t.Fatal(err)
		}
		if !carries(ps, c.ID) || !slices.ContainsFunc(ps, func(p provider.Policy) bool { return strings.Contains(p.Document, `"Sid":"CustomNoLeaving"`) }) {
			t.Errorf("custom control not rendered: %+v", ps)
		}
	})
}

const customPreventiveMeta = `id: custom-no-leaving
title: {ja: 組織から離脱しない, en: Accounts stay in the organisation}
description: {ja: 離脱を拒否する。, en: Leaving the organisation is refused.}
severity: high
kinds: [preventive, detective]
resource_types: [aws_organizations_account]
remediation: {ja: 組織に戻す。, en: Invite the account back.}
frameworks:
  nist_800_53: [AC-2]
preventive:
  aws_scp:
    - Effect: Deny
      Action: ["organizations:LeaveOrganization"]
      Resource: "*"
`

const customPreventivePolicy = `package hatoba.controls.custom_no_leaving

import rego.v1

deny contains f if {
	some r in input.hatoba_resources
	r.type == "aws_organizations_account"
	r.config.left == true
	f := {"resource": r.id, "message": "the account left"}
}
`

const customPreventiveTests = `package hatoba.controls.custom_no_leaving_test

import data.hatoba.controls.custom_no_leaving as c
import rego.v1

test_left if {
	count(c.deny) == 1 with input as {"hatoba_resources": [{"type": "aws_organizations_account", "id": "a", "config": {"left": true}}]}
}

test_stayed if {
	count(c.deny) == 0 with input as {"hatoba_resources": [{"type": "aws_organizations_account", "id": "a", "config": {"left": false}}]}
}
`
