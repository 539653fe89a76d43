package iac

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// cfnResource is one entry of a template's Resources, with where it and
// its top-level properties are written.
type cfnResource struct {
	id, typ   string
	props     map[string]any
	line      int
	propLines map[string]int
}

// ReadCloudFormation reads a CloudFormation template, JSON or YAML (the
// short-form intrinsic functions !Ref, !Sub, !GetAtt… read as their long
// forms, {"Ref": …}, {"Fn::Sub": …}), into resources of Terraform's types
// and attribute shapes (cfnmap.go): id the logical id, Line where the
// resource is written. Parameters take their defaults; readCloudFormation
// also takes a File's parameter values and region.
func ReadCloudFormation(name string, b []byte) ([]Resource, error) {
	return readCloudFormation(File{Name: name, Data: b})
}

// readCloudFormation reads f's template. What the template decides before
// it is deployed is resolved first (cfnresolve.go): a Ref to a parameter
// is f.Params' value or the parameter's Default, conditions computable from
// them decide Fn::If and leave out the resources they exclude, and
// AWS::Region is f.Region when set. A type hatoba does not map keeps its
// raw Properties under the type "cfn:AWS::…", which no control reads.
// Intrinsics left unresolved are written in their short form (!Ref X).
func readCloudFormation(f File) ([]Resource, error) {
	name, b := f.Name, trimBOM(f.Data)
	if len(b) > maxInput {
		return nil, fault.Invalidf("%s: larger than %d MiB", name, maxInput>>20)
	}
	var (
		rs  []cfnResource
		err error
	)
	resolve := func(top map[string]any) *cfnResolver { return newCFNResolver(top, f.Params, f.Region) }
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		rs, err = cfnFromJSON(b, resolve)
	} else {
		rs, err = cfnFromYAML(b, resolve)
	}
	if err != nil {
		return nil, fault.Invalidf("%s: not a CloudFormation template: %v", name, err)
	}
	var out []Resource
	for _, r := range rs {
		for _, d := range mapCFN(r.id, r.typ, r.props) {
			res := Resource{File: name, Line: r.line}
			if l := r.propLines[d.prop]; d.prop != "" && l > 0 {
				res.Line = l
			}
			config, _ := shortForm(d.config).(map[string]any)
			res.Provider, res.Type, res.ID, res.Config = "aws", d.typ, d.id, config
			out = append(out, res)
		}
	}
	return out, nil
}

// cfnResources checks the template's Resources and returns them in the
// order they are written.
func cfnResources(tmpl any, resolver func(map[string]any) *cfnResolver, lines func(id string) (int, map[string]int)) ([]cfnResource, error) {
	top, ok := tmpl.(map[string]any)
	if !ok {
		return nil, errorf("the template is not a mapping")
	}
	resources, ok := top["Resources"].(map[string]any)
	if !ok || len(resources) == 0 {
		return nil, errorf("it has no Resources")
	}
	resolve := resolver(top)
	var out []cfnResource
	for id, v := range resources {
		if id == "" {
			return nil, errorf("a resource has an empty logical id")
		}
		body, ok := v.(map[string]any)
		if !ok {
			return nil, errorf("resource %s is not a mapping", id)
		}
		typ, ok := body["Type"].(string)
		if !ok || strings.TrimSpace(typ) == "" {
			return nil, errorf("resource %s has no Type", id)
		}
		if !resolve.include(body["Condition"]) {
			// Its condition is false with these parameters: not created.
			continue
		}
		var props map[string]any
		switch p := body["Properties"].(type) {
		case nil:
			props = map[string]any{}
		case map[string]any:
			props, _ = resolve.value(p, 0).(map[string]any)
			if props == nil {
				props = map[string]any{}
			}
		default:
			return nil, errorf("resource %s: Properties is not a mapping", id)
		}
		line, propLines := lines(id)
		out = append(out, cfnResource{id: id, typ: typ, props: props, line: line, propLines: propLines})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].line != out[j].line {
			return out[i].line < out[j].line
		}
		return out[i].id < out[j].id
	})
	return out, nil
}

func cfnFromJSON(b []byte, resolve func(map[string]any) *cfnResolver) ([]cfnResource, error) {
	var tmpl any
	if err := json.Unmarshal(b, &tmpl); err != nil {
		return nil, err
	}
	lines, err := jsonLines(b, 4)
	if err != nil {
		return nil, err
	}
	return cfnResources(tmpl, resolve, func(id string) (int, map[string]int) {
		props := map[string]int{}
		prefix := jsonPath("Resources", id, "Properties") + pathSep
		for k, l := range lines {
			if p, ok := strings.CutPrefix(k, prefix); ok && !strings.Contains(p, pathSep) {
				props[p] = l
			}
		}
		return lines[jsonPath("Resources", id)], props
	})
}

func cfnFromYAML(b []byte, resolve func(map[string]any) *cfnResolver) ([]cfnResource, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	root := documentRoot(&doc)
	if root == nil {
		return nil, errorf("the document is empty")
	}
	c := &yamlConv{budget: 1 << 20}
	tmpl, err := c.value(root, 0)
	if err != nil {
		return nil, err
	}
	type pos struct {
		line  int
		props map[string]int
	}
	where := map[string]pos{}
	if r := resolveAlias(root); r != nil && r.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(r.Content); i += 2 {
			if r.Content[i].Value != "Resources" {
				continue
			}
			rs := resolveAlias(r.Content[i+1])
			if rs == nil || rs.Kind != yaml.MappingNode {
				continue
			}
			for j := 0; j+1 < len(rs.Content); j += 2 {
				p := pos{line: rs.Content[j].Line, props: map[string]int{}}
				if body := resolveAlias(rs.Content[j+1]); body != nil && body.Kind == yaml.MappingNode {
					for k := 0; k+1 < len(body.Content); k += 2 {
						if body.Content[k].Value != "Properties" {
							continue
						}
						if props := resolveAlias(body.Content[k+1]); props != nil && props.Kind == yaml.MappingNode {
							for m := 0; m+1 < len(props.Content); m += 2 {
								p.props[props.Content[m].Value] = props.Content[m].Line
							}
						}
					}
				}
				where[rs.Content[j].Value] = p
			}
		}
	}
	return cfnResources(tmpl, resolve, func(id string) (int, map[string]int) { return where[id].line, where[id].props })
}

func documentRoot(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil
		}
		return doc.Content[0]
	}
	return doc
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// yamlConv turns YAML nodes into plain values. Aliases are expanded, within
// a budget of nodes, so a small document cannot expand into a huge one.
type yamlConv struct{ budget int }

func (c *yamlConv) value(n *yaml.Node, depth int) (any, error) {
	if n == nil {
		return nil, nil
	}
	c.budget--
	if c.budget < 0 || depth > 500 {
		return nil, errorf("the document is too large or too deep once its aliases are expanded")
	}
	if n.Kind == yaml.AliasNode {
		return c.value(n.Alias, depth+1)
	}
	if fn, ok := intrinsicTag(n.Tag); ok {
		// CloudFormation's short forms: !Ref X is {"Ref": "X"}, !Sub s is
		// {"Fn::Sub": s}, !GetAtt A.B is {"Fn::GetAtt": ["A", "B"]}.
		var inner any = n.Value
		if n.Kind != yaml.ScalarNode {
			plain := *n
			plain.Tag = ""
			v, err := c.value(&plain, depth+1)
			if err != nil {
				return nil, err
			}
			inner = v
		} else if fn == "GetAtt" {
			if a, b, ok := strings.Cut(n.Value, "."); ok {
				inner = []any{a, b}
			}
		}
		key := "Fn::" + fn
		if fn == "Ref" || fn == "Condition" {
			key = fn
		}
		return map[string]any{key: inner}, nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.value(e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := map[string]any{}
		var merges []any
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolveAlias(n.Content[i])
			if k == nil || k.Kind != yaml.ScalarNode {
				return nil, errorf("line %d: a mapping key must be a string", n.Content[i].Line)
			}
			v, err := c.value(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			if k.Tag == "!!merge" || (k.Tag == "" && k.Value == "<<") {
				merges = append(merges, v)
				continue
			}
			out[k.Value] = v
		}
		for _, m := range merges {
			ms, ok := m.([]any)
			if !ok {
				ms = []any{m}
			}
			for _, mm := range ms {
				if mm, ok := mm.(map[string]any); ok {
					for k, v := range mm {
						if _, set := out[k]; !set {
							out[k] = v
						}
					}
				}
			}
		}
		return out, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool", "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return n.Value, nil
			}
			if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return n.Value, nil
			}
			return v, nil
		}
		return n.Value, nil
	}
	return nil, errorf("line %d: an unexpected YAML node", n.Line)
}

// intrinsicTag reports whether tag is a CloudFormation short form (!Ref,
// !Sub, !GetAtt, !If, !Join…) and names its function.
func intrinsicTag(tag string) (string, bool) {
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") || len(tag) < 2 {
		return "", false
	}
	return tag[1:], true
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
