package iac

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"gopkg.in/yaml.v3"

	"github.com/hatoba-cloud/hatoba/internal/controls"
)

// The corpus (testdata/corpus, docs/controls.md "Testing"): Terraform plans
// made by terraform from the configurations beside them, and CloudFormation
// templates, each with the outcome every built-in AWS control must give,
// as AWS documents the services. The manifest says it; these tests run
// every case through hatoba scan's path (Scan over a streamed file, the
// built-in catalog), through the Rego library reading the plan itself (as
// conftest does, in-process), and through conftest when it is installed.

const corpusDir = "testdata/corpus"

// corpusManifest is testdata/corpus/manifest.yaml.
type corpusManifest struct {
	// NoCloudFormation names the controls CloudFormation cannot express,
	// with the reason; they need no CloudFormation cases.
	NoCloudFormation map[string]string `yaml:"no_cloudformation"`
	Cases            []corpusCase      `yaml:"cases"`
}

type corpusCase struct {
	Name   string            `yaml:"name"` // optional; the file by default
	File   string            `yaml:"file"` // relative to testdata/corpus
	Note   string            `yaml:"note"`
	Region string            `yaml:"region"` // hatoba scan --region
	Params map[string]string `yaml:"params"` // hatoba scan --param KEY=VALUE
	// Expect gives, per control, the resources that must fail it (exactly
	// these, no others in the file) and resources that must pass it.
	Expect map[string]corpusExpect `yaml:"expect"`
	// Gaps are outcomes the case wants that the readers do not give yet.
	// Each must still be wrong (a fixed gap fails until it is moved into
	// expect), so the list stays true.
	Gaps []corpusGap `yaml:"gaps"`
}

type corpusExpect struct {
	Fail []string `yaml:"fail"`
	Pass []string `yaml:"pass"`
}

type corpusGap struct {
	Control  string `yaml:"control"`
	Resource string `yaml:"resource"`
	Want     string `yaml:"want"` // fail or pass: what AWS's behaviour asks for
	Reason   string `yaml:"reason"`
	// Paths limits the gap to some paths (go, rego); all when empty.
	Paths []string `yaml:"paths"`
}

func (c corpusCase) name() string {
	if c.Name != "" {
		return c.Name
	}
	return c.File
}

func (c corpusCase) terraform() bool { return strings.HasPrefix(c.File, "terraform/") }

func (g corpusGap) on(path string) bool { return len(g.Paths) == 0 || slices.Contains(g.Paths, path) }

var loadCorpus = sync.OnceValues(func() (corpusManifest, error) {
	var m corpusManifest
	b, err := os.ReadFile(filepath.Join(corpusDir, "manifest.yaml"))
	if err != nil {
		return m, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("manifest.yaml: %w", err)
	}
	return m, nil
})

func corpus(t *testing.T) corpusManifest {
	t.Helper()
	m, err := loadCorpus()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// outcome is what one path found in one file: control → failing resources.
type outcome map[string]map[string]bool

func (o outcome) add(control, resource string) {
	if o[control] == nil {
		o[control] = map[string]bool{}
	}
	o[control][resource] = true
}

// check compares what a path found with the case: errors name the
// control, the file and the resources.
func (c corpusCase) check(t *testing.T, path string, got outcome, exists func(string) bool) {
	t.Helper()
	gaps := map[[2]string]corpusGap{}
	for _, g := range c.Gaps {
		if g.on(path) {
			gaps[[2]string{g.Control, g.Resource}] = g
		}
	}
	for _, id := range sortedControlIDs(c.Expect) {
		want := c.Expect[id]
		failing := got[id]
		for _, r := range want.Fail {
			if g, ok := gaps[[2]string{id, r}]; ok && g.Want == "fail" {
				continue
			}
			if !failing[r] {
				t.Errorf("%s: %s: %s must fail but passes (%s path)", c.File, id, r, path)
			}
		}
		for _, r := range want.Pass {
			if exists != nil && !exists(r) {
				t.Errorf("%s: %s: %s is listed as passing but the file has no such resource", c.File, id, r)
			}
			if g, ok := gaps[[2]string{id, r}]; ok && g.Want == "pass" {
				continue
			}
			if failing[r] {
				t.Errorf("%s: %s: %s must pass but fails (%s path)", c.File, id, r, path)
			}
		}
		for _, r := range sortedKeys(failing) {
			if slices.Contains(want.Fail, r) {
				continue
			}
			if g, ok := gaps[[2]string{id, r}]; ok && g.Want == "pass" {
				continue
			}
			if !slices.Contains(want.Pass, r) {
				t.Errorf("%s: %s: %s fails but the manifest does not expect it (%s path)", c.File, id, r, path)
			}
		}
	}
	for _, g := range c.Gaps {
		if !g.on(path) {
			continue
		}
		if _, ok := c.Expect[g.Control]; !ok {
			t.Errorf("%s: gap %s %s: the control has no expect entry in this case", c.File, g.Control, g.Resource)
			continue
		}
		if fails := got[g.Control][g.Resource]; fails == (g.Want == "fail") {
			t.Errorf("%s: %s: %s now %ss as intended (%s path): move it from gaps into expect",
				c.File, g.Control, g.Resource, g.Want, path)
		}
	}
}

func sortedControlIDs(m map[string]corpusExpect) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// corpusFile opens a case's file as hatoba scan does: streamed from disk,
// with --region and --param.
func (c corpusCase) corpusFile() File {
	path := filepath.Join(corpusDir, c.File)
	return File{Name: path, Open: func() (io.ReadCloser, error) { return os.Open(path) },
		Region: c.Region, Params: c.Params}
}

// TestIaCCorpus runs every case through hatoba scan's path and, for the
// Terraform plans, through the Rego library reading the plan as conftest
// does (in-process, always) and through conftest itself (when installed).
func TestIaCCorpus(t *testing.T) {
	t.Parallel()
	m := corpus(t)
	e, err := builtinEngine()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("go", func(t *testing.T) {
		t.Parallel()
		for _, c := range m.Cases {
			t.Run(c.name(), func(t *testing.T) {
				t.Parallel()
				f := c.corpusFile()
				rep, err := Scan(context.Background(), e, []File{f})
				if err != nil {
					t.Fatalf("%s: %v", c.File, err)
				}
				got := outcome{}
				for _, r := range rep.Results {
					got.add(r.ControlID, r.Resource)
				}
				b, err := os.ReadFile(filepath.Join(corpusDir, c.File))
				if err != nil {
					t.Fatal(err)
				}
				rs, _, err := Read(File{Name: f.Name, Data: b, Region: c.Region, Params: c.Params})
				if err != nil {
					t.Fatal(err)
				}
				ids := map[string]bool{}
				for _, r := range rs {
					ids[r.ID] = true
				}
				c.check(t, "go", got, func(id string) bool { return ids[id] })
			})
		}
	})
	t.Run("rego", func(t *testing.T) {
		t.Parallel()
		q, pkgs := planQuery(t, e)
		for _, c := range m.Cases {
			if !c.terraform() {
				continue
			}
			t.Run(c.name(), func(t *testing.T) {
				t.Parallel()
				b, err := os.ReadFile(filepath.Join(corpusDir, c.File))
				if err != nil {
					t.Fatal(err)
				}
				var input any
				if err := json.Unmarshal(b, &input); err != nil {
					t.Fatal(err)
				}
				rs, err := q.Eval(context.Background(), rego.EvalInput(input))
				if err != nil || len(rs) != 1 {
					t.Fatalf("%s: %v (%d results)", c.File, err, len(rs))
				}
				all, _ := rs[0].Expressions[0].Value.(map[string]any)
				got := outcome{}
				for pkg, id := range pkgs {
					p, _ := all[pkg].(map[string]any)
					deny, _ := p["deny"].([]any)
					for _, d := range deny {
						f, _ := d.(map[string]any)
						r, _ := f["resource"].(string)
						got.add(id, r)
					}
				}
				c.check(t, "rego", got, nil)
			})
		}
	})
	t.Run("conftest", func(t *testing.T) {
		t.Parallel()
		bin, err := exec.LookPath("conftest")
		if err != nil {
			t.Skip("conftest is not on PATH: the Terraform plans were checked through the Rego library in-process (rego), not through conftest itself")
		}
		pkgs := map[string]string{}
		for _, c := range e.Controls() {
			pkgs[c.Package()] = c.ID
		}
		for _, c := range m.Cases {
			if !c.terraform() {
				continue
			}
			t.Run(c.name(), func(t *testing.T) {
				t.Parallel()
				got, err := conftestFindings(bin, filepath.Join(corpusDir, c.File), pkgs)
				if err != nil {
					t.Fatalf("%s: %v", c.File, err)
				}
				c.check(t, "rego", got, nil)
			})
		}
	})
}

// planQuery prepares the proactive controls over a raw plan, the way
// conftest evaluates them: data.hatoba.controls, with the library. pkgs
// maps each control's package under data.hatoba.controls to its id.
func planQuery(t *testing.T, e *controls.Engine) (rego.PreparedEvalQuery, map[string]string) {
	t.Helper()
	lib, err := controls.Library()
	if err != nil {
		t.Fatal(err)
	}
	var opts []func(*rego.Rego)
	for name, src := range lib {
		opts = append(opts, rego.Module(name, src))
	}
	pkgs := map[string]string{}
	for _, c := range e.Controls() {
		if c.Has(controls.Proactive) {
			pkgs[strings.TrimPrefix(c.Package(), "hatoba.controls.")] = c.ID
			opts = append(opts, rego.Module(c.ID+"/policy.rego", c.Policy))
		}
	}
	q, err := rego.New(append(opts, rego.Query("data.hatoba.controls"), rego.SetRegoVersion(ast.RegoV1))...).
		PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return q, pkgs
}

// conftestFindings runs conftest over one plan with the catalog and the
// library, as docs/controls.md ("Running the controls yourself") says.
func conftestFindings(bin, plan string, pkgs map[string]string) (outcome, error) {
	root := filepath.Join("..", "controls")
	cmd := exec.Command(bin, "test", "--all-namespaces", "--no-color", "--output", "json",
		"-p", filepath.Join(root, "lib"), "-p", filepath.Join(root, "catalog"), plan)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("conftest: %w: %s", err, stderr.String())
	}
	var results []struct {
		Namespace string `json:"namespace"`
		Failures  []struct {
			Msg      string         `json:"msg"`
			Metadata map[string]any `json:"metadata"`
		} `json:"failures"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		return nil, fmt.Errorf("conftest's output: %w: %s %s", err, stdout.String(), stderr.String())
	}
	got := outcome{}
	for _, r := range results {
		id, ok := pkgs[r.Namespace]
		if !ok {
			continue
		}
		for _, f := range r.Failures {
			res, _ := f.Metadata["resource"].(string)
			if res == "" {
				res, _, _ = strings.Cut(f.Msg, ": ")
			}
			got.add(id, res)
		}
	}
	return got, nil
}

// TestIaCCorpusCoversTheCatalog keeps the corpus whole: every proactive
// AWS control of the built-in catalog fails and passes somewhere in a
// Terraform plan and in a CloudFormation template (unless CloudFormation
// cannot express it, said with the reason), and the manifest names only
// controls the catalog has.
func TestIaCCorpusCoversTheCatalog(t *testing.T) {
	t.Parallel()
	m := corpus(t)
	e, err := builtinEngine()
	if err != nil {
		t.Fatal(err)
	}
	proactive := map[string]bool{}
	for _, c := range e.Controls() {
		if c.Has(controls.Proactive) && strings.HasPrefix(c.ID, "aws-") {
			proactive[c.ID] = true
		}
	}
	type cover struct{ tfFail, tfPass, cfnFail, cfnPass bool }
	seen := map[string]*cover{}
	files := map[string]bool{}
	for _, c := range m.Cases {
		if _, err := os.Stat(filepath.Join(corpusDir, c.File)); err != nil {
			t.Errorf("%s: %v", c.name(), err)
		}
		files[c.File] = true
		for id, x := range c.Expect {
			if !proactive[id] {
				t.Errorf("%s: %s is not a proactive AWS control of the catalog", c.File, id)
				continue
			}
			if seen[id] == nil {
				seen[id] = &cover{}
			}
			s := seen[id]
			// A case passes a control when it names a passing resource, or
			// when it wants no failure at all (an IAM user's absence).
			fails, passes := len(x.Fail) > 0, len(x.Pass) > 0 || len(x.Fail) == 0
			if c.terraform() {
				s.tfFail, s.tfPass = s.tfFail || fails, s.tfPass || passes
			} else {
				s.cfnFail, s.cfnPass = s.cfnFail || fails, s.cfnPass || passes
			}
		}
	}
	for id := range m.NoCloudFormation {
		if !proactive[id] {
			t.Errorf("no_cloudformation: %s is not a proactive AWS control of the catalog", id)
		}
	}
	for _, id := range sortedKeys(proactive) {
		s := seen[id]
		if s == nil {
			t.Errorf("%s: no case in the corpus", id)
			continue
		}
		if !s.tfFail || !s.tfPass {
			t.Errorf("%s: the Terraform cases need a failing and a passing resource (fail %v, pass %v)", id, s.tfFail, s.tfPass)
		}
		if _, none := m.NoCloudFormation[id]; !none && (!s.cfnFail || !s.cfnPass) {
			t.Errorf("%s: the CloudFormation cases need a failing and a passing resource (fail %v, pass %v)", id, s.cfnFail, s.cfnPass)
		}
	}
	// Every file of the corpus is a case (a plan or template nobody
	// checks says nothing).
	err = filepath.WalkDir(corpusDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(corpusDir, path)
		switch ext := filepath.Ext(rel); {
		case rel == "manifest.yaml", ext == ".tf", ext == ".sh":
		case !files[filepath.ToSlash(rel)]:
			t.Errorf("%s: in the corpus but in no case of manifest.yaml", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
