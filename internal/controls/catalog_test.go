package controls_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/controls"
)

// Every built-in control loads, validates, compiles and passes its own
// Rego tests, which must include a passing and a failing case.
func TestBuiltinCatalog(t *testing.T) {
	t.Parallel()
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := controls.NewEngine(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	results, err := controls.RunTests(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 2*len(cs) {
		t.Fatalf("%d tests for %d controls: each needs a passing and a failing case", len(results), len(cs))
	}
	// Each control's own tests hold a case its deny set is empty for and
	// one it is not.
	passing := regexp.MustCompile(`count\([a-z0-9_.]*deny\) == 0`)
	failing := regexp.MustCompile(`count\([a-z0-9_.]*deny\) (== [1-9]|>= ?1|> ?0)`)
	for _, c := range cs {
		if !passing.MatchString(c.Tests) || !failing.MatchString(c.Tests) {
			t.Errorf("%s: policy_test.rego needs a passing case (count(deny) == 0) and a failing one (count(deny) == N)", c.ID)
		}
	}
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	e, err := controls.NewEngine(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Evaluate(context.Background(), []controls.Resource{
		{Provider: "aws", Type: "aws_iam_user", ID: "arn:aws:iam::111122223333:user/alice", Config: map[string]any{"name": "alice"}},
		{Provider: "aws", Type: "aws_iam_role", ID: "arn:aws:iam::111122223333:role/app"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ControlID != "aws-iam-no-users" || got[0].ResourceID != "arn:aws:iam::111122223333:user/alice" {
		t.Fatalf("violations: %+v", got)
	}
}
