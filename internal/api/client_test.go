package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/api/apiclient"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// TestGeneratedClient runs a tenant's flow through the client generated from
// openapi.json alone (apiclient): request an environment, retry the request
// with its idempotency key, read it back, find it in the listing, and get a
// problem for another organisation's. If the document and the server part,
// this is where a client built from the document breaks.
func TestGeneratedClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	_, token := h.person(t, authz.TenantAdmin, "nat-digital")
	bearer := func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
	c, err := apiclient.NewClientWithResponses(h.srv.URL, apiclient.WithRequestEditorFn(bearer))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := "client-1"
	body := apiclient.EnvironmentRequest{OrgId: "nat-digital", SystemName: "juminhyo", Purpose: "production",
		Classification: "level2", Provider: "sim"}

	created, err := c.RequestEnvironmentWithResponse(ctx, &apiclient.RequestEnvironmentParams{IdempotencyKey: &key}, body)
	if err != nil {
		t.Fatal(err)
	}
	if created.StatusCode() != http.StatusCreated || created.JSON201 == nil {
		t.Fatalf("request: %d %s", created.StatusCode(), created.Body)
	}
	env := created.JSON201
	if env.State != apiclient.StateApproved || env.OrgId != "nat-digital" || env.SystemName != "juminhyo" {
		t.Fatalf("request answered %+v", env)
	}

	again, err := c.RequestEnvironmentWithResponse(ctx, &apiclient.RequestEnvironmentParams{IdempotencyKey: &key}, body)
	if err != nil {
		t.Fatal(err)
	}
	if again.StatusCode() != http.StatusOK || again.JSON200 == nil || again.JSON200.Id != env.Id {
		t.Fatalf("retry with the same key: %d %s, want 200 and %s", again.StatusCode(), again.Body, env.Id)
	}

	got, err := c.GetEnvironmentWithResponse(ctx, env.Id)
	if err != nil {
		t.Fatal(err)
	}
	if got.JSON200 == nil {
		t.Fatalf("read back: %d %s", got.StatusCode(), got.Body)
	}
	if d := got.JSON200; d.Id != env.Id || d.State != env.State || len(d.Steps) != 8 || len(d.Events) == 0 {
		t.Fatalf("read back %+v", d)
	}

	list, err := c.ListEnvironmentsWithResponse(ctx, &apiclient.ListEnvironmentsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if list.JSON200 == nil || len(list.JSON200.Items) != 1 || list.JSON200.Items[0].Id != env.Id {
		t.Fatalf("listing: %d %s", list.StatusCode(), list.Body)
	}

	other, err := c.GetOrganizationWithResponse(ctx, "qp-small")
	if err != nil {
		t.Fatal(err)
	}
	if other.ApplicationproblemJSON404 == nil || other.ApplicationproblemJSON404.Status != http.StatusNotFound {
		t.Fatalf("another organisation: %d %s, want a 404 problem", other.StatusCode(), other.Body)
	}
}
