package web

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// An estate for the pictures: environments across several prefectures,
// requested, vended and evaluated over the last weeks, so the dashboard's
// map and trends and the posture pages have something to draw. The
// console's stores stamp everything "now"; the estate moves each step
// back to its day with an UPDATE, as if the days had passed.

// estateEnv is one environment of the estate.
type estateEnv struct {
	org, system string
	// age is how many days ago it was requested; vended environments
	// became ready the day after.
	age   int
	state env.State
	// evaluations are the environment's evaluations, oldest first, one a
	// day ending today: how many IAM users it had (each a high finding)
	// and whether the root user had MFA (a critical finding if not).
	evaluations []estateEval
}

type estateEval struct {
	iamUsers int
	rootMFA  bool
}

// estateEnvs is the estate: Tokyo's and Kanagawa's wards and cities
// busiest, a few critical findings in Osaka and Fukuoka.
var estateEnvs = []estateEnv{
	{"lg-131016", "戸籍システム", 24, env.Ready, evalsGood(20)},
	{"lg-131016", "税務システム", 20, env.Ready, evalsImproving(16)},
	{"lg-131016", "福祉総合システム", 9, env.Ready, evalsGood(7)},
	{"lg-141003", "住民記録システム", 22, env.Ready, evalsImproving(18)},
	{"lg-141003", "介護保険システム", 12, env.Ready, evalsGood(10)},
	{"lg-011002", "住民記録システム", 18, env.Ready, evalsGood(15)},
	{"lg-271004", "住民記録システム", 16, env.Ready, evalsCritical(14)},
	{"lg-271004", "国民健康保険システム", 5, env.Ready, evalsGood(3)},
	{"lg-401307", "住民記録システム", 14, env.Ready, evalsCritical(12)},
	{"lg-231002", "税務システム", 11, env.Ready, evalsImproving(9)},
	{"lg-261009", "住民記録システム", 8, env.Ready, evalsGood(6)},
	{"lg-041009", "税務システム", 6, env.Ready, evalsImproving(4)},
	{"lg-281000", "福祉総合システム", 4, env.Ready, evalsGood(2)},
	{"lg-341002", "住民記録システム", 3, env.Provisioning, nil},
	{"lg-472018", "介護保険システム", 2, env.Requested, nil},
	{"lg-221309", "税務システム", 1, env.Failed, nil},
}

func evalsGood(n int) []estateEval {
	return repeatEval(n, func(int) estateEval { return estateEval{rootMFA: true} })
}

// evalsImproving: IAM users removed one by one.
func evalsImproving(n int) []estateEval {
	return repeatEval(n, func(i int) estateEval { return estateEval{iamUsers: max(0, 3-i/3), rootMFA: i > n/2} })
}

// evalsCritical: the root user never got MFA, and IAM users came.
func evalsCritical(n int) []estateEval {
	return repeatEval(n, func(i int) estateEval { return estateEval{iamUsers: min(2, i/4)} })
}

func repeatEval(n int, f func(int) estateEval) []estateEval {
	out := make([]estateEval, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// resources is an evaluation's inventory.
func (e estateEval) resources(account string) []controls.Resource {
	rs := []controls.Resource{{Provider: "aws", Type: "aws_root_account", ID: account, Region: "aws-global",
		Config: map[string]any{"mfa_enabled": e.rootMFA, "access_keys_present": false}}}
	for i := range e.iamUsers {
		rs = append(rs, iamUser(fmt.Sprintf("user%d", i+1)))
	}
	return rs
}

// seedEstate makes the estate (the organisations must be imported) and
// returns the environments' ids in estateEnvs' order.
func (h *harness) seedEstate(t testing.TB) []string {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	day := func(ago int) time.Time { return now.AddDate(0, 0, -ago) }
	// backdate moves what was stamped in the last minute to at.
	backdate := func(table, column, envID string, at time.Time) {
		t.Helper()
		if _, err := h.api.DB.ExecContext(ctx, `UPDATE `+table+` SET `+column+` = $1 WHERE env_id = $2 AND `+column+` > $3`,
			at.UTC(), envID, now.Add(-time.Minute).UTC()); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for i, se := range estateEnvs {
		en, _, err := h.api.Vending.Request(ctx, env.Request{OrgID: se.org, SystemName: se.system, Purpose: env.Production,
			Classification: env.Level2, Provider: "sim", RequestedBy: "estate"}, "")
		if err != nil {
			t.Fatalf("request %s of %s: %v", se.system, se.org, err)
		}
		ids = append(ids, en.ID)
		backdate("env_events", "at", en.ID, day(se.age))
		if se.state == env.Requested {
			continue
		}
		h.move(t, en.ID, env.Approved, env.Provisioning, "")
		if se.state == env.Failed {
			h.move(t, en.ID, env.Provisioning, env.Failed, "move_to_unit failed")
			backdate("env_events", "at", en.ID, day(se.age))
			continue
		}
		account := fmt.Sprintf("%012d", 482901731100+i*7919)
		if err := h.api.Envs.SetAccount(ctx, h.api.DB, en.ID, account); err != nil {
			t.Fatal(err)
		}
		if se.state == env.Provisioning {
			backdate("env_events", "at", en.ID, day(se.age))
			continue
		}
		for _, step := range vending.StepNames() {
			if err := h.api.Envs.StartStep(ctx, h.api.DB, en.ID, step); err != nil {
				t.Fatal(err)
			}
			if err := h.api.Envs.FinishStep(ctx, h.api.DB, en.ID, step); err != nil {
				t.Fatal(err)
			}
		}
		h.move(t, en.ID, env.Provisioning, env.Ready, "")
		backdate("env_events", "at", en.ID, day(se.age-1))
		for k, ev := range se.evaluations {
			if _, err := h.api.Posture.Record(ctx, en.ID, se.org, ev.resources(account)); err != nil {
				t.Fatal(err)
			}
			if ago := len(se.evaluations) - 1 - k; ago > 0 {
				at := day(ago)
				backdate("posture_history", "evaluated_at", en.ID, at)
				backdate("findings", "first_seen", en.ID, at)
				backdate("findings", "resolved_at", en.ID, at)
			}
		}
	}
	return ids
}
