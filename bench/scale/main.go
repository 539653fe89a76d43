// Command scale measures hatoba's reads at the Government Cloud's scale
// with a wide margin: it fills a database with N environments (default
// 100,000) across Japan's ~2,000 public bodies — one organisation holding
// 10,000 of them — and times, through the real API and console handlers:
//
//   - a page of 50 of the big organisation's environments (first and deep
//     pages, by cursor), p50 and p99;
//   - the whole listing of its 10,000 environments as `hatoba env list`
//     reads it (pages of the API's default size, following cursors);
//   - the console's dashboard for a central operator, a prefecture's
//     administrator and the big organisation's member;
//
// then collects a simulated inventory into -collect environments and
// reports the database's growth per environment.
//
//	go run ./bench/scale                          # 100,000 environments, both databases
//	go run ./bench/scale -n 20000 -db sqlite      # a quick look
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hatoba-cloud/hatoba/bench/internal/scratch"
	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/vending"
	"github.com/hatoba-cloud/hatoba/internal/web"
)

const (
	bigOrg     = "lg-131016" // 千代田区: the organisation with 10,000 environments
	prefecture = "lg-130001" // 東京都: its prefecture, whose subtree the dashboard counts
	bigOrgEnvs = 10000
)

func main() {
	n := flag.Int("n", 100000, "environments in the database")
	dbs := flag.String("db", "sqlite,postgres", "databases: sqlite, postgres or both")
	pgURL := flag.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL database for the scratch schema")
	collect := flag.Int("collect", 500, "environments whose simulated inventory is collected, for the size per environment")
	flag.Parse()
	if *n < bigOrgEnvs {
		log.Fatalf("-n must be at least %d (the big organisation's share)", bigOrgEnvs)
	}
	var rows []result
	for _, d := range strings.Split(*dbs, ",") {
		r, err := run(d, *pgURL, *n, *collect)
		if err != nil {
			log.Fatalf("%s: %v", d, err)
		}
		rows = append(rows, r)
	}
	fmt.Printf("\n%d environments, %d of them in one organisation (%s); 2 cores\n\n", *n, bigOrgEnvs, bigOrg)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "database\tpage of 50 p50\tp99\tlist 10,000 (env list)\tdashboard p50: operator\tprefecture\tbig org\tinventory per env\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.1f ms\t%.1f ms\t%.0f ms\t%.1f ms\t%.1f ms\t%.1f ms\t%.1f KiB\t\n", r.db, ms(r.pageP50), ms(r.pageP99), ms(r.listAll),
			ms(r.dashOperator), ms(r.dashPrefecture), ms(r.dashBig), float64(r.bytesPerEnv)/1024)
	}
	_ = tw.Flush()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type result struct {
	db                                    string
	pageP50, pageP99, listAll             time.Duration
	dashOperator, dashPrefecture, dashBig time.Duration
	bytesPerEnv                           int64
}

func run(d, pgURL string, n, collect int) (result, error) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	db, closeDB, err := scratch.Open(ctx, d, pgURL, "bench_scale")
	if err != nil {
		return result{}, err
	}
	defer closeDB()
	if _, err := db.Migrate(ctx); err != nil {
		return result{}, err
	}
	orgs := org.New(db, time.Now)
	if _, err := orgs.Import(ctx, audit.Acting{Actor: "system"}, org.EmbeddedSources()...); err != nil {
		return result{}, fmt.Errorf("import organisations: %w", err)
	}
	envs := env.NewStore(db, time.Now)
	start := time.Now()
	ids, err := fill(ctx, db, orgs, envs, n)
	if err != nil {
		return result{}, err
	}
	log.Printf("%s: %d environments written in %s", d, n, time.Since(start).Round(time.Second))

	engine, err := vending.New(db, envs, orgs, vending.Config{Logger: quiet}) // never started: the console asks it for connection names
	if err != nil {
		return result{}, err
	}
	ids2 := identity.New(db, identity.Options{TokenTTL: time.Hour, InvitationTTL: time.Hour, SessionTTL: time.Hour}, time.Now)
	apiSrv := &api.Server{DB: db, Envs: envs, Orgs: orgs, Vending: engine, Version: "bench", Logger: quiet,
		Identity: ids2, Authz: authz.New(orgs, time.Hour, time.Now), Certs: api.NoTrustAnchors{}}
	mfaSvc, err := mfa.New(db, mfa.Config{RPID: "localhost", Origins: []string{"http://localhost"}}, time.Now)
	if err != nil {
		return result{}, err
	}
	console, err := web.New(web.Deps{API: apiSrv, MFA: mfaSvc, Logger: quiet})
	if err != nil {
		return result{}, err
	}
	mux := http.NewServeMux()
	apiSrv.Register(mux)
	console.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()

	bigAdmin, _, err := signIn(ctx, ids2, authz.TenantAdmin, bigOrg, identity.APIToken)
	if err != nil {
		return result{}, err
	}
	r := result{db: d}
	if r.pageP50, r.pageP99, err = pages(hs.URL, bigAdmin, ids); err != nil {
		return r, err
	}
	t0 := time.Now()
	if got, err := listAll(hs.URL, bigAdmin); err != nil || got != bigOrgEnvs {
		return r, fmt.Errorf("list all: %d environments, %v", got, err) //nolint:errorlint // err may be nil here: %w would print %!w(<nil>)
	}
	r.listAll = time.Since(t0)
	// Console sessions: a member needs no security key, and the dashboard
	// of a central operator is measured the same way by giving it a
	// confirmed session.
	for _, who := range []struct {
		role  authz.Role
		orgID string
		dst   *time.Duration
	}{{authz.CentralOperator, "", &r.dashOperator}, {authz.TenantMember, prefecture, &r.dashPrefecture}, {authz.TenantMember, bigOrg, &r.dashBig}} {
		secret, _, err := signIn(ctx, ids2, who.role, who.orgID, identity.ConsoleSession)
		if err != nil {
			return r, err
		}
		if who.role.NeedsSecondFactor() {
			if err := ids2.ConfirmSecondFactor(ctx, secret); err != nil {
				return r, err
			}
		}
		if *who.dst, err = dashboard(hs.URL, secret); err != nil {
			return r, fmt.Errorf("dashboard of a %s: %w", who.role, err)
		}
	}
	if r.bytesPerEnv, err = inventoryGrowth(ctx, db, ids, collect); err != nil {
		return r, err
	}
	return r, nil
}

// fill writes n environments: bigOrgEnvs for bigOrg, the rest spread over
// every organisation; most ready, some in every other state. It returns
// bigOrg's ids.
func fill(ctx context.Context, db *store.DB, orgs *org.Registry, envs *env.Store, n int) ([]string, error) {
	var all []string
	cursor := ""
	for {
		page, err := orgs.List(ctx, org.ListParams{Limit: 500, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		for _, o := range page.Items {
			all = append(all, o.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Contains(all, bigOrg) || !slices.Contains(all, prefecture) {
		return nil, errors.New("the embedded organisations lack " + bigOrg + " or " + prefecture)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	states := []env.State{env.Ready, env.Ready, env.Ready, env.Ready, env.Ready, env.Ready, env.Requested, env.Failed, env.Closed, env.Provisioning}
	base := time.Now().Add(-time.Duration(n) * time.Minute)
	var big []string
	const batch = 2000
	for from := 0; from < n; from += batch {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for i := from; i < min(from+batch, n); i++ {
				orgID := all[rng.IntN(len(all))]
				if i%(n/bigOrgEnvs) == 0 && len(big) < bigOrgEnvs {
					orgID = bigOrg
				}
				at := base.Add(time.Duration(i) * time.Minute)
				st := states[rng.IntN(len(states))]
				en := env.Environment{ID: env.NewID(at), OrgID: orgID, SystemName: fmt.Sprintf("system-%06d", i), Purpose: env.Production,
					Classification: env.Level2, Provider: "sim", State: st, AccountEmail: fmt.Sprintf("cloud+%d@sim.hatoba.invalid", i),
					CreatedAt: at, UpdatedAt: at}
				if st == env.Ready || st == env.Closed {
					en.AccountID = fmt.Sprintf("%012d", 100000000000+i)
				}
				if err := envs.Insert(ctx, tx, en, nil); err != nil {
					return err
				}
				if orgID == bigOrg {
					big = append(big, en.ID)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("write environments %d…: %w", from, err)
		}
	}
	if len(big) != bigOrgEnvs {
		return nil, fmt.Errorf("the big organisation got %d environments, want %d", len(big), bigOrgEnvs)
	}
	slices.Reverse(big) // newest first, the listing's order
	return big, nil
}

// signIn makes a person of role with a bound card and opens a session of
// kind for it.
func signIn(ctx context.Context, ids *identity.Service, role authz.Role, orgID string, kind identity.SessionKind) (string, identity.Session, error) {
	_, inv, err := ids.Bootstrap(ctx, identity.Invitation{Role: role, OrgID: orgID, DisplayName: "計測 " + string(role)})
	if err != nil {
		return "", identity.Session{}, err
	}
	cert := identity.Certificate{IssuerDN: "CN=bench", Serial: fmt.Sprint(time.Now().UnixNano()), NotAfter: time.Now().Add(time.Hour)}
	if _, err := ids.Accept(ctx, inv, cert); err != nil {
		return "", identity.Session{}, err
	}
	_, secret, sess, err := ids.SignIn(ctx, cert, kind, "bench")
	return secret, sess, err
}

// pages times pages of 50 of the big organisation's environments, from the
// first and from cursors spread over the whole listing.
func pages(base, token string, ids []string) (p50, p99 time.Duration, err error) {
	var lat []time.Duration
	for i := 0; i < 300; i++ {
		q := "?org_id=" + bigOrg + "&limit=50"
		if i%3 != 0 {
			q += "&cursor=" + ids[(i*37)%(len(ids)-100)]
		}
		t0 := time.Now()
		var page env.Page
		if err := get(base+"/api/v1/environments"+q, token, "", &page); err != nil {
			return 0, 0, err
		}
		lat = append(lat, time.Since(t0))
		if len(page.Items) != 50 {
			return 0, 0, fmt.Errorf("a page held %d environments", len(page.Items))
		}
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], nil
}

// listAll reads the big organisation's environments the way `hatoba env
// list --org` does: pages of the API's default size, following cursors.
func listAll(base, token string) (int, error) {
	n, cursor := 0, ""
	for {
		var page env.Page
		if err := get(base+"/api/v1/environments?org_id="+bigOrg+"&cursor="+cursor, token, "", &page); err != nil {
			return n, err
		}
		n += len(page.Items)
		if cursor = page.NextCursor; cursor == "" {
			return n, nil
		}
	}
}

// dashboard times the console's dashboard for a session, p50 of 30.
func dashboard(base, session string) (time.Duration, error) {
	var lat []time.Duration
	for i := 0; i < 30; i++ {
		t0 := time.Now()
		if err := get(base+"/?lang=ja", "", session, nil); err != nil {
			return 0, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat[len(lat)/2], nil
}

func get(url, token, session string, out any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if session != "" {
		req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: session})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %.300s", url, resp.StatusCode, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// inventoryGrowth collects a simulated inventory (the simulated cloud's
// generator, normalised by the aws driver) into k environments and
// returns the database's growth per environment.
func inventoryGrowth(ctx context.Context, db *store.DB, ids []string, k int) (int64, error) {
	cs, err := controls.Builtin()
	if err != nil {
		return 0, err
	}
	engine, err := controls.NewEngine(ctx, cs)
	if err != nil {
		return 0, err
	}
	svc := posture.New(db, engine, time.Now)
	before, err := dbSize(ctx, db)
	if err != nil {
		return 0, err
	}
	for i, id := range ids[:min(k, len(ids))] {
		var rs []controls.Resource
		for _, item := range simcloud.GenerateInventory(7, fmt.Sprintf("%012d", 200000000000+i)) {
			raw, err := json.Marshal(item)
			if err != nil {
				return 0, err
			}
			norm, _, _, err := awsdriver.NormaliseConfigItem(raw)
			if err != nil {
				return 0, err
			}
			for _, r := range norm {
				rs = append(rs, controls.Resource{Provider: "aws", Type: r.Type, ID: r.ID, Region: r.Region, Environment: id, Config: r.Config})
			}
		}
		if _, err := svc.Record(ctx, id, bigOrg, rs); err != nil {
			return 0, err
		}
	}
	after, err := dbSize(ctx, db)
	if err != nil {
		return 0, err
	}
	return (after - before) / int64(min(k, len(ids))), nil
}

// dbSize is the database's size in bytes: SQLite's pages in use (the file
// only grows), PostgreSQL's relations.
func dbSize(ctx context.Context, db *store.DB) (int64, error) {
	var n int64
	q := `SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()`
	if db.Dialect() == store.Postgres {
		q = `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
			WHERE s.nspname = current_schema() AND c.relkind = 'r'`
	}
	err := db.QueryRowContext(ctx, q).Scan(&n)
	return n, err
}
