package simcloud_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

func TestOpenStackInventoryIsStable(t *testing.T) {
	t.Parallel()
	a := simcloud.GenerateOpenStackInventory(42, "p1", "jp-east-1")
	if b := simcloud.GenerateOpenStackInventory(42, "p1", "jp-east-1"); !reflect.DeepEqual(a, b) {
		t.Fatal("the same project and region gave two inventories")
	}
	if len(a.Servers) == 0 || len(a.SecurityGroups) == 0 {
		t.Fatalf("a domestic region has servers and security groups: %+v", a)
	}
	if c := simcloud.GenerateOpenStackInventory(42, "p1", "jp-west-1"); reflect.DeepEqual(a, c) {
		t.Fatal("two regions gave the same inventory")
	}
	// Abroad, only the planted few projects have anything: one server.
	abroad := 0
	for i := range 400 {
		inv := simcloud.GenerateOpenStackInventory(42, "p"+string(rune('a'+i%26))+string(rune('a'+i/26)), "us-east-1")
		if len(inv.Servers) > 0 {
			abroad++
			if len(inv.Servers) != 1 || len(inv.Volumes)+len(inv.SecurityGroups)+len(inv.Containers) != 0 {
				t.Fatalf("abroad: %+v", inv)
			}
		}
	}
	if abroad < 10 || abroad > 80 { // 10 % of 400
		t.Fatalf("%d of 400 projects abroad, want about 40", abroad)
	}
}

func TestOpenStackServices(t *testing.T) {
	t.Parallel()
	sim, err := simcloud.Open(simcloud.Config{Seed: 3, AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	eps := simcloud.OpenStackEndpoints(srv.URL, []string{"jp-east-1"})
	if len(eps) != len(simcloud.OpenStackServiceTypes) {
		t.Fatalf("endpoints %+v", eps)
	}
	get := func(path, token string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("X-Auth-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, _ := get("/openstack/jp-east-1/compute/v2.1/servers/detail?all_tenants=true&tenant_id=p1", ""); code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", code)
	}
	if code, _ := get("/openstack/jp-east-1/compute/v2.1/servers/detail", "t"); code != http.StatusBadRequest {
		t.Fatalf("without a project: %d", code)
	}
	code, body := get("/openstack/jp-east-1/compute/v2.1/servers/detail?all_tenants=true&tenant_id=p1", "t")
	want := simcloud.GenerateOpenStackInventory(3, "p1", "jp-east-1")
	if code != http.StatusOK || len(body["servers"].([]any)) != len(want.Servers) {
		t.Fatalf("servers: %d %v", code, body)
	}
	code, body = get("/openstack/jp-east-1/network/v2.0/security-groups?project_id=p1", "t")
	if code != http.StatusOK || len(body["security_groups"].([]any)) != len(want.SecurityGroups) {
		t.Fatalf("security groups: %d %v", code, body)
	}
}
