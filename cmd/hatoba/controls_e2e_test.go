package main

import (
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
)

type findingView struct {
	ControlID    string `json:"control_id"`
	ResourceID   string `json:"resource_id"`
	ResourceType string `json:"resource_type"`
	Status       string `json:"status"`
}

// TestControlsEndToEnd vends environments on the simulated cloud, collects
// their inventories, sees the planted non-compliant resources reported,
// makes one bucket public and sees it found, fixes it and sees the finding
// resolved.
func TestControlsEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL := filepath.Join(dir, "hatoba.db")
	sim, simArgs := startSim(t, dir)
	srv := start(t, serveArgs(dir, dbURL, simArgs...)...)
	admin := createOrg(t, dbURL, srv.url)
	op := mintToken(t, dbURL, authz.CentralOperator, "")
	ids := requestMany(t, admin, []*proc{srv}, "nat-digital", 3)
	envs := waitAllReady(t, admin, func() string { return srv.url }, ids, 60*time.Second)

	findings := func(envID string) []findingView {
		t.Helper()
		var out struct {
			Items []findingView `json:"items"`
		}
		if st := callAs(t, admin, "GET", srv.url+"/api/v1/environments/"+envID+"/findings?status=all", nil, &out); st != 200 {
			t.Fatalf("findings: %d", st)
		}
		return out.Items
	}
	collect := func(envID string) {
		t.Helper()
		var sum map[string]any
		if st := callAs(t, admin, "POST", srv.url+"/api/v1/environments/"+envID+"/posture/collect", nil, &sum); st != 200 {
			t.Fatalf("collect %s: %d %v\nserver log:\n%s", envID, st, sum, srv.logOutput())
		}
	}
	total := 0
	for _, id := range ids {
		collect(id)
		total += len(findings(id))
	}
	if total == 0 {
		t.Fatal("no planted non-compliance was reported in 3 environments")
	}

	// Make one bucket's public access block off, collect, see it found;
	// fix it, collect, see the finding resolved.
	envID := ids[0]
	account := envs[envID].AccountID
	var inv struct {
		Items []struct {
			ResourceType string `json:"resourceType"`
			ResourceID   string `json:"resourceId"`
		} `json:"items"`
	}
	if st := call(t, "GET", sim.url+"/_simcloud/inventory/"+account, nil, &inv); st != 200 {
		t.Fatalf("simcloud inventory: %d", st)
	}
	bucket := ""
	for _, it := range inv.Items {
		if it.ResourceType == "AWS::S3::Bucket" {
			bucket = it.ResourceID
			break
		}
	}
	if bucket == "" {
		t.Skip("the seeded inventory of this account has no bucket") // the generator always makes some; see docs/simcloud.md
	}
	patch := func(open bool) {
		t.Helper()
		body := map[string]any{"supplementaryConfiguration": map[string]any{"PublicAccessBlockConfiguration": map[string]any{
			"blockPublicAcls": !open, "ignorePublicAcls": !open, "blockPublicPolicy": !open, "restrictPublicBuckets": !open}}}
		if st := call(t, "POST", sim.url+"/_simcloud/inventory/"+account+"/AWS::S3::Bucket/"+url.PathEscape(bucket), body, nil); st != 200 {
			t.Fatalf("patch: %d", st)
		}
	}
	// The finding about this bucket (another may have one planted too).
	publicAccess := func() *findingView {
		for _, f := range findings(envID) {
			if f.ResourceType == "aws_s3_bucket_public_access_block" && f.ResourceID == "arn:aws:s3:::"+bucket {
				return &f
			}
		}
		return nil
	}
	patch(true)
	collect(envID)
	f := publicAccess()
	if f == nil || f.Status != "open" {
		t.Fatalf("the opened bucket is not reported: %+v (findings %+v)", f, findings(envID))
	}
	patch(false)
	collect(envID)
	if f := publicAccess(); f == nil || f.Status != "resolved" {
		t.Fatalf("the fixed bucket's finding is not resolved: %+v", f)
	}

	// An operator collects every environment at once and follows the
	// round to its end.
	var round struct {
		ID                  string
		State               string
		Total, Done, Failed int
	}
	if st := callAs(t, op, "POST", srv.url+"/api/v1/posture/rounds", map[string]string{}, &round); st != 202 || round.Total != 3 {
		t.Fatalf("collect all: %d %+v", st, round)
	}
	for deadline := time.Now().Add(60 * time.Second); round.State == "running"; time.Sleep(100 * time.Millisecond) {
		if st := callAs(t, op, "GET", srv.url+"/api/v1/posture/rounds/"+round.ID, nil, &round); st != 200 || time.Now().After(deadline) {
			t.Fatalf("the round: %d %+v", st, round)
		}
	}
	if round.State != "finished" || round.Done != 3 || round.Failed != 0 {
		t.Fatalf("the round ended %+v\nserver log:\n%s", round, srv.logOutput())
	}
	if st := callAs(t, admin, "POST", srv.url+"/api/v1/posture/rounds", map[string]string{}, nil); st != 403 {
		t.Fatalf("a tenant administrator started a round over every tenant: %d", st)
	}

	// The organisation's score covers its environments; OCSF export works.
	var score map[string]any
	if st := callAs(t, admin, "GET", srv.url+"/api/v1/organizations/nat-digital/posture", nil, &score); st != 200 || score["environments"] != float64(3) {
		t.Fatalf("org posture: %d %v", st, score)
	}
	var ocsf struct {
		Items []map[string]any `json:"items"`
	}
	if st := callAs(t, op, "GET", srv.url+"/api/v1/environments/"+envID+"/findings?format=ocsf&status=all", nil, &ocsf); st != 200 || len(ocsf.Items) == 0 || ocsf.Items[0]["class_uid"] != float64(2003) {
		t.Fatalf("OCSF: %d %v", st, ocsf.Items)
	}

	// Sovereignty from the collected inventory: the tenant's report names
	// its regions' residency and the shipped example profile of "sim";
	// central sees the score only.
	var rep struct {
		Environment    string         `json:"environment"`
		Profile        string         `json:"profile"`
		ProfileExample bool           `json:"profile_example"`
		Levels         map[string]int `json:"levels"`
		Exposures      []struct{ ID string }
		Summary        string
	}
	if st := callAs(t, admin, "POST", srv.url+"/api/v1/environments/"+envID+"/sovereignty", nil, &rep); st != 200 ||
		rep.Environment != envID || rep.Profile != "aws-example" || !rep.ProfileExample || len(rep.Levels) != 8 || len(rep.Exposures) == 0 {
		t.Fatalf("sovereignty: %d %+v\nserver log:\n%s", st, rep, srv.logOutput())
	}
	var view map[string]any
	if st := callAs(t, op, "GET", srv.url+"/api/v1/environments/"+envID+"/sovereignty", nil, &view); st != 200 || view["view"] != "score_only" {
		t.Fatalf("sovereignty as central: %d %v", st, view)
	}
	// Each collection hands the assessment to the detective controls as
	// one more resource of the environment (hatoba-sovereignty-floor).
	var invNow struct {
		Items []struct {
			Type   string         `json:"type"`
			Config map[string]any `json:"config"`
		} `json:"items"`
	}
	if st := callAs(t, admin, "GET", srv.url+"/api/v1/environments/"+envID+"/inventory", nil, &invNow); st != 200 {
		t.Fatalf("inventory: %d", st)
	}
	found := false
	for _, it := range invNow.Items {
		if it.Type == "hatoba_sovereignty_assessment" {
			found = it.Config["floor_mode"] == "report" && it.Config["classification"] != nil
		}
	}
	if !found {
		t.Fatalf("the collected inventory holds no sovereignty assessment: %+v", invNow.Items)
	}
}
