package controls

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// bigControl is a synthetic preventive control with one statement of
// about size characters.
func bigControl(id string, size int) Control {
	var actions []any
	for n := 0; len(actions)*31 < size; n++ { // `"service:Action000000000000000",`
		actions = append(actions, fmt.Sprintf("service:Action%015d", n))
	}
	return Control{ID: id, Kinds: []Kind{Preventive}, Preventive: PreventivePolicy{AWSSCP: []map[string]any{
		{"Effect": "Deny", "Action": actions, "Resource": "*"},
	}}}
}

func builtinPreventive(t *testing.T) []Control {
	t.Helper()
	cs, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var out []Control
	for _, c := range cs {
		if c.Has(Preventive) {
			out = append(out, c)
		}
	}
	return out
}

func scpPick(cs []Control, ids ...string) []Control {
	var out []Control
	for _, c := range cs {
		if slices.Contains(ids, c.ID) {
			out = append(out, c)
		}
	}
	return out
}

var sidPattern = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// checkRendered holds the invariants: valid JSON, within the limits, Sids
// unique and alphanumeric, every input statement present exactly once.
func checkRendered(t *testing.T, in []Control, out []RenderedPolicy, opts SCPOptions) {
	t.Helper()
	max := opts.MaxChars
	if max == 0 {
		max = SCPMaxChars
	}
	want := map[string]int{} // canonical statement without Sid → count
	for _, c := range in {
		for _, st := range c.Preventive.AWSSCP {
			cp := map[string]any{}
			for k, v := range st {
				if k != "Sid" {
					cp[k] = v
				}
			}
			b, err := json.Marshal(cp)
			if err != nil {
				t.Fatal(err)
			}
			want[string(b)]++
		}
	}
	got := map[string]int{}
	sids := map[string]bool{}
	names := map[string]bool{}
	for _, p := range out {
		if n := utf8.RuneCountInString(p.Document); n > max {
			t.Errorf("%s: %d characters, more than %d", p.Name, n, max)
		}
		if n := utf8.RuneCountInString(p.Description); n > SCPMaxDescription {
			t.Errorf("%s: description of %d characters", p.Name, n)
		}
		if names[p.Name] {
			t.Errorf("name %s twice", p.Name)
		}
		names[p.Name] = true
		var doc struct {
			Version   string
			Statement []map[string]any
		}
		if err := json.Unmarshal([]byte(p.Document), &doc); err != nil {
			t.Fatalf("%s: not JSON: %v", p.Name, err)
		}
		if doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
			t.Errorf("%s: version %q, %d statements", p.Name, doc.Version, len(doc.Statement))
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(p.Document)); err != nil || compact.String() != p.Document {
			t.Errorf("%s: not compact JSON (%v)", p.Name, err)
		}
		var prev string
		for _, st := range doc.Statement {
			sid, _ := st["Sid"].(string)
			if !sidPattern.MatchString(sid) || sids[sid] {
				t.Errorf("%s: Sid %q invalid or repeated", p.Name, sid)
			}
			if sid < prev {
				t.Errorf("%s: Sid %s after %s", p.Name, sid, prev)
			}
			prev, sids[sid] = sid, true
			delete(st, "Sid")
			b, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			got[string(b)]++
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("statement %s rendered %d times, want %d", k, got[k], n)
		}
	}
	for k, n := range got {
		if want[k] == 0 {
			t.Errorf("statement %s rendered %d times, was not asked for", k, n)
		}
	}
}

func scpGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "scp", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to write it)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -run %s -update rewrites it); got:\n%s", path, t.Name(), got)
	}
}

func scpFormat(out []RenderedPolicy, err error) string {
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
		var fit *SCPFitError
		if errors.As(err, &fit) {
			fmt.Fprintf(&b, "left out: %s\n", strings.Join(fit.Controls, ", "))
		}
		return b.String()
	}
	total := 0
	for _, p := range out {
		total += utf8.RuneCountInString(p.Document)
	}
	fmt.Fprintf(&b, "%d documents, %d characters\n", len(out), total)
	for _, p := range out {
		fmt.Fprintf(&b, "\nname: %s\ndescription: %s\ncontrols: %s\ncharacters: %d\n%s\n",
			p.Name, p.Description, strings.Join(p.Controls, ", "), utf8.RuneCountInString(p.Document), p.Document)
	}
	return b.String()
}

func TestRenderSCPs(t *testing.T) {
	t.Parallel()
	builtin := builtinPreventive(t)
	if len(builtin) == 0 {
		t.Fatal("no built-in preventive controls")
	}
	tests := []struct {
		name    string
		in      []Control
		opts    SCPOptions
		wantErr []string // the controls an error names; nil for success
	}{
		{name: "ok/builtin", in: builtin},
		{name: "ok/small", in: scpPick(builtin, "aws-iam-no-users", "aws-ec2-imdsv2", "aws-region-domestic")},
		{name: "ok/two-documents", in: []Control{bigControl("big-a", 2400), bigControl("big-b", 2300), bigControl("big-c", 2200),
			scpPick(builtin, "aws-iam-no-users")[0]}},
		{name: "ok/none", in: nil},
		{name: "fail/statement-too-big", in: []Control{bigControl("huge", 5200), bigControl("big-a", 2400)},
			wantErr: []string{"huge"}},
		{name: "fail/too-many-documents", in: []Control{bigControl("big-a", 2400), bigControl("big-b", 2300), bigControl("big-c", 2200)},
			opts: SCPOptions{MaxPolicies: 1}, wantErr: []string{"big-c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := RenderSCPs(tt.in, tt.opts)
			scpGolden(t, strings.ReplaceAll(tt.name, "/", "-"), scpFormat(out, err))
			if tt.wantErr != nil {
				var fit *SCPFitError
				if !errors.As(err, &fit) || !slices.Equal(fit.Controls, tt.wantErr) {
					t.Fatalf("err %v, want an SCPFitError naming %v", err, tt.wantErr)
				}
				if fault.KindOf(err) != fault.Conflict {
					t.Errorf("kind %s, want conflict", fault.KindOf(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkRendered(t, tt.in, out, tt.opts)
			// Same controls in another order: the same bytes.
			rev := slices.Clone(tt.in)
			slices.Reverse(rev)
			again, err := RenderSCPs(rev, tt.opts)
			if err != nil || scpFormat(again, nil) != scpFormat(out, nil) {
				t.Errorf("reversed input rendered differently (err %v)", err)
			}
		})
	}
}

func TestRenderSCPsSids(t *testing.T) {
	t.Parallel()
	stmt := func(sid string) map[string]any {
		m := map[string]any{"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}
		if sid != "" {
			m["Sid"] = sid
		}
		return m
	}
	in := []Control{
		{ID: "a-1b", Preventive: PreventivePolicy{AWSSCP: []map[string]any{stmt("")}}},
		{ID: "a1b", Preventive: PreventivePolicy{AWSSCP: []map[string]any{stmt("")}}},
		{ID: "two-stmts", Preventive: PreventivePolicy{AWSSCP: []map[string]any{stmt(""), stmt("")}}},
		{ID: "odd-sid", Preventive: PreventivePolicy{AWSSCP: []map[string]any{stmt("Deny_it-now!")}}},
	}
	out, err := RenderSCPs(in, SCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkRendered(t, in, out, SCPOptions{})
	var doc struct{ Statement []struct{ Sid string } }
	if err := json.Unmarshal([]byte(out[0].Document), &doc); err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, st := range doc.Statement {
		sids = append(sids, st.Sid)
	}
	want := []string{"A1b", "A1bN2", "OddSid", "TwoStmtsS1", "TwoStmtsS2"}
	if !slices.Equal(sids, want) {
		t.Errorf("Sids %v, want %v", sids, want)
	}
	// The input is not changed.
	if _, ok := in[0].Preventive.AWSSCP[0]["Sid"]; ok {
		t.Error("RenderSCPs wrote a Sid into its input")
	}
}

func TestRenderSCPsDescription(t *testing.T) {
	t.Parallel()
	var in []Control
	for i := range 40 {
		c := bigControl(fmt.Sprintf("synthetic-control-with-a-long-name-%02d", i), 10)
		in = append(in, c)
	}
	out, err := RenderSCPs(in, SCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkRendered(t, in, out, SCPOptions{})
	if len(out) != 1 {
		t.Fatalf("%d documents, want 1", len(out))
	}
	d := out[0].Description
	if utf8.RuneCountInString(d) > SCPMaxDescription || !strings.HasSuffix(d, " more") || !strings.Contains(d, "synthetic-control-with-a-long-name-00") {
		t.Errorf("description %q", d)
	}
	if len(out[0].Controls) != 40 {
		t.Errorf("%d controls listed, want 40", len(out[0].Controls))
	}
}
