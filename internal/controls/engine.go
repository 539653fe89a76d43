package controls

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Resource is one resource in hatoba's normalised shape, as every control
// reads it (lib/hatoba.rego).
type Resource struct {
	Provider    string         `json:"provider"`
	Type        string         `json:"type"`
	ID          string         `json:"id"`
	Region      string         `json:"region"`
	Environment string         `json:"environment"`
	Config      map[string]any `json:"config"`
	// Unknown marks, in Config's shape, the attributes a Terraform plan
	// knows only after the apply (change.after_unknown), so the library
	// judges them the same whether hatoba or conftest reads the plan.
	// Empty for everything else.
	Unknown map[string]any `json:"unknown,omitempty"`
	// References names, per argument, the resource of the same plan an
	// argument known only after the apply refers to, as the plan's
	// configuration says ({"bucket": "aws_s3_bucket.archive"}): which
	// bucket an S3 companion configures. Empty for everything else.
	References map[string]string `json:"references,omitempty"`
}

// Violation is one deny result: a control says a resource breaks it.
type Violation struct {
	ControlID  string   `json:"control_id"`
	Severity   Severity `json:"severity"`
	ResourceID string   `json:"resource_id"`
	Type       string   `json:"type"`
	Message    string   `json:"message"`
	// Format and Params are Message without the resource's id, as the
	// control wrote it: an English sprintf format (the key of its
	// translation in control.yaml's messages) and its parameters.
	Format string `json:"format"`
	Params Params `json:"params"`
}

// Engine evaluates a set of controls. It is safe for concurrent use.
type Engine struct {
	controls []Control
	byType   map[string][]*compiled
}

type compiled struct {
	control Control
	query   rego.PreparedEvalQuery
}

// NewEngine compiles the library and every control's module; a module that
// does not compile is refused with the compiler's messages.
func NewEngine(ctx context.Context, cs []Control) (*Engine, error) {
	modules, err := parseModules(cs, false)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler()
	if compiler.Compile(modules); compiler.Failed() {
		return nil, &fault.Error{Kind: fault.Invalid, Message: "the controls do not compile: " + compiler.Errors.Error()}
	}
	e := &Engine{controls: cs, byType: map[string][]*compiled{}}
	for _, c := range cs {
		q, err := rego.New(rego.Query("data."+c.Package()+".deny"), rego.Compiler(compiler)).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("controls: %s: %w", c.ID, err)
		}
		cc := &compiled{control: c, query: q}
		for _, t := range c.ResourceTypes {
			e.byType[t] = append(e.byType[t], cc)
		}
	}
	return e, nil
}

// parseModules parses the library and the controls' modules (and their
// tests when withTests), under file names that say whose they are.
func parseModules(cs []Control, withTests bool) (map[string]*ast.Module, error) {
	lib, err := Library()
	if err != nil {
		return nil, err
	}
	modules := map[string]*ast.Module{}
	parse := func(name, src string) error {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return &fault.Error{Kind: fault.Invalid, Message: "Rego does not parse: " + err.Error()}
		}
		modules[name] = m
		return nil
	}
	for name, src := range lib {
		if err := parse(name, src); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.ID] {
			return nil, fault.Invalidf("control %s appears twice", c.ID)
		}
		seen[c.ID] = true
		if err := parse(c.ID+"/policy.rego", c.Policy); err != nil {
			return nil, err
		}
		if withTests {
			if err := parse(c.ID+"/policy_test.rego", c.Tests); err != nil {
				return nil, err
			}
		}
	}
	return modules, nil
}

// Controls are the engine's controls.
func (e *Engine) Controls() []Control { return e.controls }

// Evaluate runs every control that applies to the resources' types and
// returns what they deny, ordered by resource, then control. Resources
// are grouped by type so each control sees only its own types, in one
// evaluation per control.
func (e *Engine) Evaluate(ctx context.Context, resources []Resource, only func(Control) bool) ([]Violation, error) {
	// Each resource becomes a Rego value once; every control that reads
	// its type shares it.
	byType := map[string][]*ast.Term{}
	for _, r := range resources {
		if len(e.byType[r.Type]) == 0 {
			continue
		}
		v, err := ast.InterfaceToValue(resourceValue(r))
		if err != nil {
			return nil, fmt.Errorf("controls: resource %s: %w", r.ID, err)
		}
		byType[r.Type] = append(byType[r.Type], ast.NewTerm(v))
	}
	// One input per control: the resources of all its types.
	inputs := map[*compiled][]*ast.Term{}
	for t, rs := range byType {
		for _, cc := range e.byType[t] {
			if only == nil || only(cc.control) {
				inputs[cc] = append(inputs[cc], rs...)
			}
		}
	}
	var out []Violation
	for cc, rs := range inputs {
		input := ast.NewObject(ast.Item(ast.StringTerm("hatoba_resources"), ast.NewTerm(ast.NewArray(rs...))))
		v, err := e.eval(ctx, cc, input)
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ResourceID != out[j].ResourceID {
			return out[i].ResourceID < out[j].ResourceID
		}
		if out[i].ControlID != out[j].ControlID {
			return out[i].ControlID < out[j].ControlID
		}
		return out[i].Message < out[j].Message
	})
	return out, nil
}

func (e *Engine) eval(ctx context.Context, cc *compiled, input ast.Value) ([]Violation, error) {
	rs, err := cc.query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, fmt.Errorf("controls: evaluating %s: %w", cc.control.ID, err)
	}
	var out []Violation
	for _, r := range rs {
		for _, ex := range r.Expressions {
			set, ok := ex.Value.([]any)
			if !ok {
				continue
			}
			for _, item := range set {
				v := Violation{ControlID: cc.control.ID, Severity: cc.control.Severity}
				switch f := item.(type) {
				case string:
					v.Message = f
				case map[string]any:
					v.Message, _ = f["msg"].(string)
					v.ResourceID, _ = f["resource"].(string)
					v.Type, _ = f["type"].(string)
					v.Format, _ = f["format"].(string)
					ps, _ := f["params"].([]any)
					for _, p := range ps {
						v.Params = append(v.Params, param(p))
					}
				default:
					v.Message = fmt.Sprint(f)
				}
				if v.Format == "" {
					// A deny rule of its own making (not lib.finding): its
					// message is the format, untranslated.
					v.Format = strings.ReplaceAll(strings.TrimPrefix(v.Message, v.ResourceID+": "), "%", "%%")
				}
				if v.Params == nil {
					v.Params = Params{}
				}
				out = append(out, v)
			}
		}
	}
	return out, nil
}

func resourceValue(r Resource) map[string]any {
	cfg := r.Config
	if cfg == nil {
		cfg = map[string]any{}
	}
	v := map[string]any{"provider": r.Provider, "type": r.Type, "id": r.ID, "region": r.Region,
		"environment": r.Environment, "config": cfg}
	if len(r.Unknown) > 0 {
		v["unknown"] = r.Unknown
	}
	if len(r.References) > 0 {
		refs := make(map[string]any, len(r.References))
		for k, ref := range r.References {
			refs[k] = ref
		}
		v["references"] = refs
	}
	return v
}

// TestResult is one Rego test of a control.
type TestResult struct {
	Control string `json:"control"`
	Name    string `json:"name"`
	Pass    bool   `json:"pass"`
	Message string `json:"message,omitempty"`
}

// RunTests runs the controls' own Rego tests (policy_test.rego) and
// returns every result; err is set when any test fails or errs, naming
// each, or when a control has no test at all.
func RunTests(ctx context.Context, cs []Control) ([]TestResult, error) {
	modules, err := parseModules(cs, true)
	if err != nil {
		return nil, err
	}
	ch, err := tester.NewRunner().SetModules(modules).SetDefaultRegoVersion(ast.RegoV1).RaiseBuiltinErrors(true).RunTests(ctx, nil)
	if err != nil {
		return nil, &fault.Error{Kind: fault.Invalid, Message: "the controls' tests do not compile: " + err.Error()}
	}
	var out []TestResult
	var failed []string
	tested := map[string]int{}
	for r := range ch {
		control, _, _ := strings.Cut(r.Location.File, "/")
		tr := TestResult{Control: control, Name: r.Name, Pass: r.Pass()}
		if !tr.Pass {
			switch {
			case r.Error != nil:
				tr.Message = r.Error.Error()
			case r.Fail:
				tr.Message = "the test's conditions were false"
			}
			failed = append(failed, control+": "+r.Name+" ("+tr.Message+")")
		}
		tested[control]++
		out = append(out, tr)
	}
	for _, c := range cs {
		if tested[c.ID] == 0 {
			failed = append(failed, c.ID+": has no test (policy_test.rego needs test_ rules)")
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return out, &fault.Error{Kind: fault.Invalid, Message: "control tests failed: " + strings.Join(failed, "; ")}
	}
	return out, nil
}

// Checks counts the (control, resource) pairs Evaluate would evaluate: the
// denominator of a compliance score.
func (e *Engine) Checks(resources []Resource, only func(Control) bool) int {
	n := 0
	for _, r := range resources {
		for _, cc := range e.byType[r.Type] {
			if only == nil || only(cc.control) {
				n++
			}
		}
	}
	return n
}

// Control returns the engine's control id.
func (e *Engine) Control(id string) (Control, bool) {
	for _, c := range e.controls {
		if c.ID == id {
			return c, true
		}
	}
	return Control{}, false
}
