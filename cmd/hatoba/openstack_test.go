package main

import (
	"context"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/provider"
)

func TestPolicySetByDriver(t *testing.T) {
	t.Parallel()
	named := func(n string) func(context.Context, env.Environment) ([]provider.Policy, error) {
		return func(context.Context, env.Environment) ([]provider.Policy, error) {
			return []provider.Policy{{Name: n}}, nil
		}
	}
	set := policySetByDriver([]config.Provider{{Name: "sim", Driver: "aws"}, {Name: "domestic", Driver: "openstack"}}, named("scp"), named("guardrail"))
	for _, tc := range []struct{ provider, want string }{{"sim", "scp"}, {"domestic", "guardrail"}} {
		ps, err := set(context.Background(), env.Environment{Provider: tc.provider})
		if err != nil || len(ps) != 1 || ps[0].Name != tc.want {
			t.Errorf("an environment on %s gets %+v, %v; want %s", tc.provider, ps, err, tc.want)
		}
	}
}

func TestOpenStackDriverNeedsStoredSecret(t *testing.T) {
	t.Parallel()
	p := config.Provider{Name: "domestic", Driver: "openstack", OpenStack: config.OpenStack{AuthURL: "https://keystone.example.jp/v3",
		Domain: "hatoba", ApplicationCredentialID: "abc", Secret: "secret:keystone"}}
	if _, err := openstackDriver(p, nil); err == nil || !strings.Contains(err.Error(), "key service") {
		t.Fatalf("without the key service: %v", err)
	}
	p.OpenStack.Secret = "plain"
	if _, err := openstackDriver(p, nil); err == nil || !strings.Contains(err.Error(), "secret:NAME") {
		t.Fatalf("a plain secret: %v", err)
	}
}
