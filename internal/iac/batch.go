package iac

import (
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hatoba-cloud/hatoba/internal/controls"
)

// How a control's resources can be split into batches without changing
// what it finds. controls.Engine.Evaluate gives each control all the
// resources of its types in one input; over a large plan that input is
// large, and a control that joins resources (the S3 bucket controls match
// every bucket against every companion) is quadratic in it. A scan
// therefore evaluates in batches, and each control's batches are chosen
// by what its Rego reads:
//
//   - perResource: every deny rule iterates one resource of its types
//     (some r in lib.of_type(t)) and reads nothing but that resource, the
//     library's per-resource helpers and data.hatoba.params. Any batch of
//     its resources finds the same, so all such controls share batches of
//     batchSize resources of any types.
//   - byBucket: a control of the S3 types only (aws_s3_*), which match
//     a bucket's companion resources by config.bucket (the producers'
//     contract in docs/controls.md), directly or through
//     lib.configures_bucket. Its resources are grouped by bucket
//     name, and batches of whole groups are evaluated; what matches every
//     bucket (a companion whose bucket is known only after the apply, the
//     account's public access block) goes into every batch.
//   - whole: anything else — a custom control, or a built-in one that
//     reads more than one resource in a way this analysis does not know —
//     gets all the resources of its types at once, as before.
type evalClass int

const (
	whole evalClass = iota
	perResource
	byBucket
)

// batchSize is how many resources one evaluation gets: big enough that
// the per-call cost of a control's query is amortised, small enough that
// a batch's Rego values stay a few megabytes.
const batchSize = 2000

// bucketBatch is how many S3 resources one evaluation of the byBucket
// controls gets. Those controls compare every bucket with every companion
// in their input, so a batch costs its size squared and the scan its size
// times the resources: small batches are cheap (a few dozen buckets).
const bucketBatch = 128

// perResourceHelpers are the library's functions and rules that read the
// resource they are given (and data.hatoba.params), never the input; a
// control calling anything else of the library is not judged per resource.
var perResourceHelpers = map[string]bool{
	"known_after_apply": true, "present": true, "empty": true, "customer_key": true, "aws_managed_key": true,
	"region": true, "tag": true, "purpose": true, "classification": true, "admin_ports": true, "world": true,
	"list": true, "aurora": true, "finding": true, "finding_fmt": true, "provider_of": true, "domestic_regions": true,
}

// classify decides c's evalClass from its Rego.
func classify(c controls.Control) evalClass {
	if perResourceRego(c.Policy) {
		return perResource
	}
	s3 := len(c.ResourceTypes) > 0
	for _, t := range c.ResourceTypes {
		s3 = s3 && strings.HasPrefix(t, "aws_s3_")
	}
	if s3 && (strings.Contains(c.Policy, "config.bucket") || strings.Contains(c.Policy, "lib.configures_bucket")) {
		return byBucket
	}
	return whole
}

// perResourceRego reports whether a control's module judges each resource
// on its own: lib.of_type appears only as the collection of a deny rule's
// one `some … in`, nothing reads input or data outside
// data.hatoba.params, and the library is used only for perResourceHelpers.
func perResourceRego(policy string) bool {
	m, err := ast.ParseModuleWithOpts("policy.rego", policy, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return false
	}
	lib := map[string]bool{} // the names the library is imported as
	for _, imp := range m.Imports {
		ref, ok := imp.Path.Value.(ast.Ref)
		if !ok || !ref.HasPrefix(ast.MustParseRef("data.hatoba.lib")) || len(ref) != 3 {
			continue
		}
		name := string(imp.Alias)
		if name == "" {
			name = "lib"
		}
		lib[name] = true
	}
	ofType := func(ref ast.Ref) bool {
		return len(ref) == 2 && lib[ref[0].String()] && ref[1].Equal(ast.StringTerm("of_type"))
	}
	ok := true
	for _, rule := range m.Rules {
		deny := rule.Head.Name == "deny" || (len(rule.Head.Reference) > 0 && rule.Head.Reference[0].Equal(ast.VarTerm("deny")))
		calls, iterations := 0, 0
		ast.WalkRefs(rule, func(ref ast.Ref) bool {
			head := ref[0].String()
			switch {
			case ofType(ref):
				calls++
			case head == "input":
				ok = false
			case head == "data":
				ok = ok && ref.HasPrefix(ast.MustParseRef("data.hatoba.params"))
			case lib[head]:
				name, isString := ref[1].Value.(ast.String)
				ok = ok && len(ref) >= 2 && isString && perResourceHelpers[string(name)]
			}
			return false
		})
		// some x in xs is an expression whose terms are a SomeDecl.
		ast.WalkExprs(rule, func(e *ast.Expr) bool {
			decl, isDecl := e.Terms.(*ast.SomeDecl)
			if !isDecl || len(decl.Symbols) != 1 {
				return false
			}
			call, isCall := decl.Symbols[0].Value.(ast.Call)
			if !isCall || len(call) < 3 {
				return false
			}
			if domain, isCall := call[len(call)-1].Value.(ast.Call); isCall {
				if ref, isRef := domain[0].Value.(ast.Ref); isRef && ofType(ref) {
					iterations++
				}
			}
			return false
		})
		switch {
		case !deny && calls > 0, deny && (calls > 1 || calls != iterations):
			return false
		}
	}
	return ok
}
