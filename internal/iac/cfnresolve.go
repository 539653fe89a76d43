package iac

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// cfnResolver evaluates what a template decides by itself before it is
// deployed: a Ref to a parameter is its value (the caller's override, else
// the parameter's Default), the conditions computable from those values,
// and the functions over them (Fn::If, Fn::Sub, Fn::Join, Fn::Select,
// Fn::FindInMap). What depends on the deployment (a resource's physical id,
// Fn::GetAtt, a parameter without a default, AWS::AccountId) stays as the
// intrinsic it is, and is later written as a person writes it (!Ref X).
type cfnResolver struct {
	params     map[string]any // name → value; a name absent is unknown
	conditions map[string]any // the template's Conditions, unevaluated
	mappings   map[string]any
	decided    map[string]tristate // conditions evaluated so far
	budget     int                 // nodes left to visit: a template cannot make it loop
}

type tristate int8

const (
	unknown tristate = iota
	yes
	no
)

// noValue is what Ref AWS::NoValue resolves to: the property it sits in is
// removed, as CloudFormation does.
type noValueT struct{}

var noValue = noValueT{}

// keepNoValue writes AWS::NoValue back as the Ref it came from, inside an
// intrinsic that stays undecided.
func keepNoValue(v any) any {
	if v == noValue {
		return map[string]any{"Ref": "AWS::NoValue"}
	}
	return v
}

// newCFNResolver reads the template's Parameters, Conditions and Mappings;
// overrides (--param KEY=VALUE) win over defaults, and region, when the
// caller knows it, is AWS::Region.
func newCFNResolver(tmpl map[string]any, overrides map[string]string, region string) *cfnResolver {
	r := &cfnResolver{params: map[string]any{}, decided: map[string]tristate{}, budget: 4 << 20}
	r.conditions, _ = tmpl["Conditions"].(map[string]any)
	r.mappings, _ = tmpl["Mappings"].(map[string]any)
	if region != "" {
		r.params["AWS::Region"] = region
	}
	r.params["AWS::URLSuffix"] = "amazonaws.com"
	params, _ := tmpl["Parameters"].(map[string]any)
	for name, def := range params {
		d, _ := def.(map[string]any)
		typ, _ := d["Type"].(string)
		v, ok := overrides[name]
		switch {
		case ok:
			r.params[name] = paramValue(typ, v)
		case d["Default"] != nil:
			if s, isString := d["Default"].(string); isString {
				r.params[name] = paramValue(typ, s)
			} else {
				r.params[name] = d["Default"]
			}
		}
	}
	return r
}

// paramValue is a parameter's value as a Ref gives it: list types are
// lists of their comma-separated items, the rest their text.
func paramValue(typ, v string) any {
	if typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
		items := strings.Split(v, ",")
		out := make([]any, len(items))
		for i, s := range items {
			out[i] = strings.TrimSpace(s)
		}
		return out
	}
	return v
}

// include reports whether a resource with this Condition is created: only
// a condition known to be false leaves it out.
func (r *cfnResolver) include(condition any) bool {
	name, ok := condition.(string)
	return !ok || r.condition(name, 0) != no
}

// value resolves v: the intrinsics it can decide are replaced by their
// results; a property resolving to AWS::NoValue is dropped.
func (r *cfnResolver) value(v any, depth int) any {
	r.budget--
	if r.budget < 0 || depth > 200 {
		return v
	}
	switch t := v.(type) {
	case []any:
		out := make([]any, 0, len(t))
		for _, e := range t {
			if e = r.value(e, depth+1); e != noValue {
				out = append(out, e)
			}
		}
		return out
	case map[string]any:
		if isIntrinsic(t) {
			return r.intrinsic(t, depth)
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			if e = r.value(e, depth+1); e != noValue {
				out[k] = e
			}
		}
		return out
	}
	return v
}

func (r *cfnResolver) intrinsic(m map[string]any, depth int) any {
	for fn, arg := range m {
		switch fn {
		case "Ref":
			name, _ := arg.(string)
			if name == "AWS::NoValue" {
				return noValue
			}
			if v, ok := r.params[name]; ok {
				return v
			}
			return m
		case "Fn::If":
			args, ok := arg.([]any)
			if !ok || len(args) != 3 {
				return m
			}
			name, _ := args[0].(string)
			switch r.condition(name, depth+1) {
			case yes:
				return r.value(args[1], depth+1)
			case no:
				return r.value(args[2], depth+1)
			}
			a, b := r.value(args[1], depth+1), r.value(args[2], depth+1)
			if fmt.Sprint(a) == fmt.Sprint(b) {
				// Both branches say the same: the condition does not matter.
				return a
			}
			return map[string]any{fn: []any{name, keepNoValue(a), keepNoValue(b)}}
		case "Fn::Sub":
			return r.sub(m, arg, depth)
		case "Fn::Join":
			args, ok := arg.([]any)
			if !ok || len(args) != 2 {
				return m
			}
			sep, ok := r.value(args[0], depth+1).(string)
			items, isList := r.value(args[1], depth+1).([]any)
			if !ok || !isList {
				return map[string]any{fn: []any{r.value(args[0], depth+1), r.value(args[1], depth+1)}}
			}
			parts := make([]string, len(items))
			for i, it := range items {
				s, ok := scalarText(it)
				if !ok {
					return map[string]any{fn: []any{sep, items}}
				}
				parts[i] = s
			}
			return strings.Join(parts, sep)
		case "Fn::Select":
			args, ok := arg.([]any)
			if !ok || len(args) != 2 {
				return m
			}
			idx, list := r.value(args[0], depth+1), r.value(args[1], depth+1)
			s, _ := scalarText(idx)
			i, err := strconv.Atoi(s)
			if l, ok := list.([]any); ok && err == nil && i >= 0 && i < len(l) {
				return l[i]
			}
			return map[string]any{fn: []any{idx, list}}
		case "Fn::FindInMap":
			args, ok := arg.([]any)
			if !ok || len(args) < 3 {
				return m
			}
			var keys [3]string
			for i := range keys {
				k, ok := scalarText(r.value(args[i], depth+1))
				if !ok {
					return m
				}
				keys[i] = k
			}
			top, _ := r.mappings[keys[0]].(map[string]any)
			second, _ := top[keys[1]].(map[string]any)
			if v, ok := second[keys[2]]; ok {
				return r.value(v, depth+1)
			}
			return m
		}
		// Anything else (Fn::GetAtt, Fn::ImportValue, Fn::GetAZs…) depends
		// on the deployment; its arguments may still say something.
		return map[string]any{fn: r.value(arg, depth+1)}
	}
	return m
}

var subVar = regexp.MustCompile(`\$\{([^}!]*)\}`)

// sub substitutes the variables Fn::Sub can know now (its own variables,
// parameters, AWS::Region); a string with none left unknown is the result.
func (r *cfnResolver) sub(m map[string]any, arg any, depth int) any {
	var (
		text string
		vars map[string]any
	)
	switch a := arg.(type) {
	case string:
		text = a
	case []any:
		if len(a) != 2 {
			return m
		}
		s, ok := a[0].(string)
		if !ok {
			return m
		}
		text = s
		vars, _ = r.value(a[1], depth+1).(map[string]any)
	default:
		return m
	}
	complete := true
	out := subVar.ReplaceAllStringFunc(text, func(ref string) string {
		name := ref[2 : len(ref)-1]
		v, ok := vars[name]
		if !ok {
			v, ok = r.params[name]
		}
		if s, isText := scalarText(v); ok && isText {
			return s
		}
		complete = false
		return ref
	})
	if !complete {
		if vars != nil {
			return map[string]any{"Fn::Sub": []any{out, vars}}
		}
		return map[string]any{"Fn::Sub": out}
	}
	// ${!Literal} is written as ${Literal}.
	return strings.ReplaceAll(out, "${!", "${")
}

// condition evaluates the named condition; a condition that names itself,
// directly or not, is unknown.
func (r *cfnResolver) condition(name string, depth int) tristate {
	if d, ok := r.decided[name]; ok {
		return d
	}
	def, ok := r.conditions[name]
	if !ok {
		return unknown
	}
	r.decided[name] = unknown // until decided: breaks cycles
	d := r.cond(def, depth+1)
	r.decided[name] = d
	return d
}

func (r *cfnResolver) cond(v any, depth int) tristate {
	r.budget--
	if r.budget < 0 || depth > 200 {
		return unknown
	}
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return unknown
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			name, _ := arg.(string)
			return r.condition(name, depth+1)
		case "Fn::Equals":
			if len(args) != 2 {
				return unknown
			}
			a, aok := scalarText(r.value(args[0], depth+1))
			b, bok := scalarText(r.value(args[1], depth+1))
			if !aok || !bok {
				return unknown
			}
			return truth(a == b)
		case "Fn::Not":
			if len(args) != 1 {
				return unknown
			}
			switch r.cond(args[0], depth+1) {
			case yes:
				return no
			case no:
				return yes
			}
			return unknown
		case "Fn::And", "Fn::Or":
			// And is false if any is false, Or true if any is true;
			// otherwise an unknown operand makes the result unknown.
			decisive := no
			if fn == "Fn::Or" {
				decisive = yes
			}
			result := truth(fn == "Fn::And")
			for _, a := range args {
				switch d := r.cond(a, depth+1); d {
				case decisive:
					return d
				case unknown:
					result = unknown
				}
			}
			return result
		}
	}
	return unknown
}

func truth(b bool) tristate {
	if b {
		return yes
	}
	return no
}

// scalarText is a scalar's text as CloudFormation compares and joins it.
func scalarText(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	}
	return "", false
}

// shortForm writes the intrinsics left in v as a person writes them in
// YAML (!Ref S3Bucket, !GetAtt Key.Arn, !Sub "arn:${AWS::Partition}:…"),
// so that messages and values name them readably.
func shortForm(v any) any {
	switch t := v.(type) {
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = shortForm(e)
		}
		return out
	case map[string]any:
		if isIntrinsic(t) {
			return intrinsicText(t)
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = shortForm(e)
		}
		return out
	}
	return v
}

func intrinsicText(m map[string]any) string {
	for fn, arg := range m {
		name := "!" + strings.TrimPrefix(fn, "Fn::")
		switch a := arg.(type) {
		case string:
			return name + " " + flowText(a, false)
		case []any:
			if fn == "Fn::GetAtt" && len(a) == 2 {
				x, xok := a[0].(string)
				y, yok := a[1].(string)
				if xok && yok {
					return name + " " + x + "." + y
				}
			}
		}
		return name + " " + flowText(arg, true)
	}
	return ""
}

// flowText writes a value in YAML's flow style, quoting strings only
// where YAML would need it.
func flowText(v any, nested bool) string {
	switch t := v.(type) {
	case string:
		if t == "" || strings.TrimSpace(t) != t || strings.ContainsAny(t[:1], "!&*'\"%@`|>#[]{},") ||
			strings.Contains(t, ": ") || strings.Contains(t, " #") || (nested && strings.ContainsAny(t, ",[]{}")) {
			return strconv.Quote(t)
		}
		return t
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = flowText(e, true)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		if isIntrinsic(t) {
			return intrinsicText(t)
		}
		ks := make([]string, 0, len(t))
		for k := range t {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		parts := make([]string, len(ks))
		for i, k := range ks {
			parts[i] = flowText(k, true) + ": " + flowText(t[k], true)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case nil:
		return "null"
	}
	s, _ := scalarText(v)
	return s
}
