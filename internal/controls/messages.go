package controls

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A finding's message is an English sprintf format and its parameters
// (lib.finding, lib.finding_fmt): the API, the CLI and notifications say
// the English rendering; the console says the format's translation in
// control.yaml's messages with the same parameters, which are data and
// stay as they are. docs/controls.md, "Messages".

// Params are a finding's message parameters, each as Rego's sprintf gave
// it to the format: a string, an int64 or a float64 (a number written with
// a fraction or an exponent); lib.finding_fmt turns any other value into
// the string sprintf writes of it.
type Params []any

// MarshalJSON writes the parameters as a JSON array; a float64 keeps a
// fraction (2.0), so that it reads back a float64 and renders the same.
func (ps Params) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		switch v := p.(type) {
		case float64:
			s := strconv.FormatFloat(v, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eE") {
				s += ".0"
			}
			b.WriteString(s)
		default:
			j, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			b.Write(j)
		}
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (ps *Params) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw []any
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("message parameters: %w", err)
	}
	out := make(Params, len(raw))
	for i, v := range raw {
		out[i] = param(v)
	}
	*ps = out
	return nil
}

// param is a value of a Rego result (numbers are json.Number) as Rego's
// sprintf hands it to Go's fmt: a number with a fraction or an exponent
// as float64, an integer as int64 (a huge one as a big.Int), a string as
// itself, anything else as Rego writes it.
func param(v any) any {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		s := string(x)
		if strings.ContainsAny(s, ".eE") {
			if f, err := x.Float64(); err == nil {
				return f
			}
			return s
		}
		if i, err := x.Int64(); err == nil {
			return i
		}
		if b, ok := new(big.Int).SetString(s, 10); ok {
			return b
		}
		return s
	case int64, float64, *big.Int:
		return x
	}
	if t, err := ast.InterfaceToValue(v); err == nil {
		return t.String()
	}
	return fmt.Sprint(v)
}

// Verbs lists the verbs of a sprintf format in order, each with its flags,
// width and precision ("%d", "%q", "%-8s"); "%%" is text, not a verb. An
// argument index ("%[2]d"), a width or precision taken from the arguments
// ("%*d") or a "%" at the end is refused: a translation must be able to
// use the parameters in its own order only by keeping the English one.
func Verbs(format string) ([]string, error) {
	var verbs []string
	err := scanFormat(format, func(string) {}, func(verb string) { verbs = append(verbs, verb) })
	return verbs, err
}

// scanFormat walks format, calling text with each run of literal text
// ("%%" as "%") and verb with each verb.
func scanFormat(format string, text, verb func(string)) error {
	var lit strings.Builder
	for i := 0; i < len(format); {
		c := format[i]
		if c != '%' {
			lit.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(format) && format[i+1] == '%' {
			lit.WriteByte('%')
			i += 2
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("+-# 0", format[j]) >= 0 {
			j++
		}
		for j < len(format) && format[j] >= '0' && format[j] <= '9' {
			j++
		}
		if j < len(format) && format[j] == '.' {
			j++
			for j < len(format) && format[j] >= '0' && format[j] <= '9' {
				j++
			}
		}
		if j >= len(format) {
			return fmt.Errorf("format %q ends in an incomplete verb", format)
		}
		switch format[j] {
		case '[', '*':
			return fmt.Errorf("format %q: argument indexes and * widths are not allowed", format)
		}
		if format[j] >= 0x80 || !(format[j] >= 'a' && format[j] <= 'z' || format[j] >= 'A' && format[j] <= 'Z') {
			return fmt.Errorf("format %q: %q is not a verb", format, format[i:j+1])
		}
		if lit.Len() > 0 {
			text(lit.String())
			lit.Reset()
		}
		verb(format[i : j+1])
		i = j + 1
	}
	if lit.Len() > 0 {
		text(lit.String())
	}
	return nil
}

// MessagePart is a piece of a rendered message: the format's own text, or
// one parameter rendered by its verb (Param), which is data.
type MessagePart struct {
	Text  string
	Param bool
}

// RenderParts renders format with params, piece by piece; false when the
// format does not parse or its verbs are not as many as the parameters
// (a stored row the control has changed since, or a custom control's
// message that was not a format).
func RenderParts(format string, params Params) ([]MessagePart, bool) {
	var parts []MessagePart
	n := 0
	err := scanFormat(format, func(s string) { parts = append(parts, MessagePart{Text: s}) }, func(verb string) {
		if n < len(params) {
			parts = append(parts, MessagePart{Text: fmt.Sprintf(verb, params[n]), Param: true})
		}
		n++
	})
	if err != nil || n != len(params) {
		return nil, false
	}
	return parts, true
}

// Render is RenderParts joined: the message as one string.
func Render(format string, params Params) (string, bool) {
	parts, ok := RenderParts(format, params)
	if !ok {
		return "", false
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), true
}

// Japanese is the translation of an English message format from the
// control's messages, if it has one.
func (c Control) Japanese(format string) (string, bool) {
	ja, ok := c.Messages[format]
	return ja, ok && strings.TrimSpace(ja) != ""
}

// messageProblems checks each translation: not empty, and the same verbs
// as its English format in the same order.
func (c Control) messageProblems() []string {
	var problems []string
	for en, ja := range c.Messages {
		enVerbs, err := Verbs(en)
		if err != nil {
			problems = append(problems, "messages: "+err.Error())
			continue
		}
		if strings.TrimSpace(ja) == "" {
			problems = append(problems, fmt.Sprintf("messages: %q has an empty translation", en))
			continue
		}
		jaVerbs, err := Verbs(ja)
		if err != nil {
			problems = append(problems, "messages: "+err.Error())
			continue
		}
		if strings.Join(enVerbs, " ") != strings.Join(jaVerbs, " ") {
			problems = append(problems, fmt.Sprintf("messages: %q has the verbs [%s], its translation %q [%s]; they must be the same, in the same order",
				en, strings.Join(enVerbs, " "), ja, strings.Join(jaVerbs, " ")))
		}
	}
	return problems
}

// MessageCall is one call of lib.finding or lib.finding_fmt in a policy:
// the message format it passes, when a constant (for lib.finding, its
// msg as a format: a "%" doubled), and for lib.finding_fmt how many
// parameters its array has (-1 when not an array written out).
type MessageCall struct {
	Func     string // "finding" or "finding_fmt"
	Line     int
	Format   string
	Constant bool
	Params   int
}

// MessageCalls finds the lib.finding and lib.finding_fmt calls of a
// policy module, through its import of data.hatoba.lib (under any name).
func MessageCalls(policy string) ([]MessageCall, error) {
	m, err := ast.ParseModuleWithOpts("policy.rego", policy, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("policy does not parse: %w", err)
	}
	libRef := ast.MustParseRef("data.hatoba.lib")
	var alias ast.Var
	for _, imp := range m.Imports {
		ref, ok := imp.Path.Value.(ast.Ref)
		if !ok || !ref.Equal(libRef) {
			continue
		}
		alias = imp.Alias
		if alias == "" {
			alias = ast.Var(ref[len(ref)-1].Value.(ast.String))
		}
	}
	var out []MessageCall
	ast.WalkTerms(m, func(t *ast.Term) bool {
		call, ok := t.Value.(ast.Call)
		if !ok || len(call) == 0 {
			return false
		}
		name, ok := libFunc(call[0], alias, libRef)
		if !ok || (name != "finding" && name != "finding_fmt") {
			return false
		}
		mc := MessageCall{Func: name, Params: -1}
		if t.Location != nil {
			mc.Line = t.Location.Row
		}
		args := call[1:]
		if len(args) >= 2 {
			if s, ok := args[1].Value.(ast.String); ok {
				mc.Constant, mc.Format = true, string(s)
				if name == "finding" {
					mc.Format = strings.ReplaceAll(mc.Format, "%", "%%")
				}
			}
		}
		if name == "finding" {
			mc.Params = 0
		} else if len(args) >= 3 {
			if a, ok := args[2].Value.(*ast.Array); ok {
				mc.Params = a.Len()
			}
		}
		out = append(out, mc)
		return false
	})
	return out, nil
}

// libFunc names the library function a call's operator refers to:
// alias.name, or data.hatoba.lib.name written out.
func libFunc(op *ast.Term, alias ast.Var, libRef ast.Ref) (string, bool) {
	ref, ok := op.Value.(ast.Ref)
	if !ok {
		return "", false
	}
	var rest ast.Ref
	switch {
	case alias != "" && len(ref) == 2 && ref[0].Value.Compare(alias) == 0:
		rest = ref[1:]
	case len(ref) == len(libRef)+1 && ref[:len(libRef)].Equal(libRef):
		rest = ref[len(libRef):]
	default:
		return "", false
	}
	s, ok := rest[0].Value.(ast.String)
	return string(s), ok
}
