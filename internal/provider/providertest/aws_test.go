package providertest_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/provider/providertest"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

// TestAWS runs the conformance suite on the aws driver and the simulated
// cloud, which speaks AWS's wire protocol.
func TestAWS(t *testing.T) {
	t.Parallel()
	providertest.Run(t, providertest.Cloud{New: newAWS, Guardrail: scp})
}

func newAWS(t *testing.T, client *http.Client) (provider.Provider, providertest.Inspector) {
	t.Helper()
	sim, err := simcloud.Open(simcloud.Config{AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret",
		Latency: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	d, err := awsdriver.New(context.Background(), awsdriver.Config{Name: "sim", Region: "ap-northeast-1", Endpoint: srv.URL,
		AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret", HTTPClient: client, RetryBase: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Organizations is a global service, signed for us-east-1.
	org := organizations.New(organizations.Options{Region: "us-east-1", BaseEndpoint: awssdk.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")})
	return d, &awsInspector{sim: sim, org: org}
}

// scp is a service control policy; the variant is in its description and
// its document.
func scp(name string, variant int) provider.Policy {
	action := []string{"iam:CreateUser", "ec2:RunInstances"}[variant]
	return provider.Policy{Name: name, Description: fmt.Sprintf("conformance variant %d", variant),
		Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"` + action + `","Resource":"*"}]}`}
}

type awsInspector struct {
	sim *simcloud.Server
	org *organizations.Client
}

func (a *awsInspector) Accounts(ctx context.Context, email string) (int, error) {
	n := 0
	pages := organizations.NewListAccountsPaginator(a.org, &organizations.ListAccountsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		for _, ac := range page.Accounts {
			if strings.EqualFold(awssdk.ToString(ac.Email), email) {
				n++
			}
		}
	}
	return n, nil
}

func (a *awsInspector) Unit(ctx context.Context, id string) (string, error) {
	out, err := a.org.ListParents(ctx, &organizations.ListParentsInput{ChildId: awssdk.String(id)})
	if err != nil || len(out.Parents) == 0 {
		return "", err
	}
	return awssdk.ToString(out.Parents[0].Id), nil
}

func (a *awsInspector) policies(ctx context.Context, id string) ([]orgtypes.PolicySummary, error) {
	var out []orgtypes.PolicySummary
	pages := organizations.NewListPoliciesForTargetPaginator(a.org, &organizations.ListPoliciesForTargetInput{
		TargetId: awssdk.String(id), Filter: orgtypes.PolicyTypeServiceControlPolicy})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Policies...)
	}
	return out, nil
}

func (a *awsInspector) Policies(ctx context.Context, id, prefix string) ([]string, error) {
	ps, err := a.policies(ctx, id)
	var names []string
	for _, p := range ps {
		if n := awssdk.ToString(p.Name); strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, err
}

func (a *awsInspector) Enforced(ctx context.Context, id, name string, variant int) (bool, error) {
	ps, err := a.policies(ctx, id)
	for _, p := range ps {
		if awssdk.ToString(p.Name) == name && awssdk.ToString(p.Description) == fmt.Sprintf("conformance variant %d", variant) {
			return true, err
		}
	}
	return false, err
}

func (a *awsInspector) Groups(ctx context.Context, id string) ([]string, error) {
	as, err := a.sim.AccountAssignments(ctx, id)
	var out []string
	for _, s := range as {
		if _, g, ok := strings.Cut(s, "="); ok {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out, err
}

func (a *awsInspector) Members(ctx context.Context, group string) ([]string, error) {
	m, err := a.sim.GroupMembers(ctx, group)
	slices.Sort(m)
	return m, err
}

func (a *awsInspector) Tag(ctx context.Context, id, key string) (string, error) {
	out, err := a.org.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: awssdk.String(id)})
	if err != nil {
		return "", err
	}
	var plain string
	for _, tg := range out.Tags {
		switch awssdk.ToString(tg.Key) {
		case key + ":base64":
			b, err := base64.StdEncoding.DecodeString(awssdk.ToString(tg.Value))
			return string(b), err
		case key:
			plain = awssdk.ToString(tg.Value)
		}
	}
	return plain, nil
}

func (a *awsInspector) Closed(ctx context.Context, id string) (bool, error) {
	out, err := a.org.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: awssdk.String(id)})
	if err != nil {
		return false, err
	}
	return out.Account.Status != orgtypes.AccountStatusActive, nil
}
