package iac

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// A plan of 200,000 resources is tens of megabytes of JSON; decoded into
// maps at once (and again into Rego values) it took gigabytes (issue 10).
// The reader therefore streams it: the top-level members are read one at
// a time with a json.Decoder, resource_changes and planned_values one
// element at a time, and each resource is kept as its address, type and
// the raw bytes of its values (change.after, change.after_unknown). A
// resource becomes a Resource — a decoded config with its provider's
// region and default tags — only when a batch of controls evaluates it
// (scan.go), and is dropped again after the batch.

// planRecord is one managed resource of a plan, not yet decoded.
type planRecord struct {
	address, module, typ, name string
	after, unknown             json.RawMessage
	line                       int
	// what names the record in errors: resource_changes[i] or
	// planned_values resource "addr".
	what string
}

// tfPlan is what a streamed plan keeps: its resources (from
// resource_changes, or from planned_values when the plan has no
// changes) and what resolving them needs — the root variables and the
// provider configuration.
type tfPlan struct {
	name      string
	records   []planRecord
	variables map[string]struct {
		Value any `json:"value"`
	}
	providers map[string]tfProviderConfig
	keyOf     map[string]string            // module path + resource address → provider config key, where it is not the type's default
	refsOf    map[string]map[string]string // module path + resource address → planReferences of its configuration
	// cache of resolved providers by module path, type and name.
	pcs map[[3]string]*tfProviderConfig
}

// errNotPlan: the document is JSON but has no format_version or
// resource_changes, or is not valid JSON before anything says it is a
// plan; the caller reads it as something else (or names the error).
var errNotPlan = errors.New("not a Terraform plan")

// notPlanError is errNotPlan with what made the document unreadable, if
// anything.
type notPlanError struct{ cause error }

func (e notPlanError) Error() string {
	if e.cause == nil {
		return errNotPlan.Error()
	}
	return errNotPlan.Error() + ": " + e.cause.Error()
}

func (e notPlanError) Is(target error) bool { return target == errNotPlan }

// streamPlan reads a plan from r (a JSON document; a leading UTF-8 BOM is
// skipped). It returns errNotPlan, without reading past the document, when
// the document is valid JSON and not a plan, and errNotPlan wrapped with
// the syntax error when the document is not valid JSON before anything
// says it is a plan — so the caller can let the byte reader (Detect)
// name what it is.
func streamPlan(name string, r io.Reader) (*tfPlan, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	lc := &lineCounter{r: br}
	dec := json.NewDecoder(lc)
	lc.dec = dec
	p := &tfPlan{name: name}
	var hasChanges, hasVersion, hasPlanned bool
	var changes, planned []planRecord
	isPlan := func() bool { return hasChanges || hasVersion }
	syntax := func(err error) error {
		if !isPlan() {
			return notPlanError{err}
		}
		return fault.Invalidf("%s: not valid JSON: %v", name, err)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotPlan
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntax(err)
		}
		key, _ := tok.(string)
		switch key {
		case "format_version":
			hasVersion = true
			var v string
			if err := dec.Decode(&v); err != nil {
				return nil, syntax(err)
			}
		case "resource_changes":
			hasChanges = true
			if changes, err = p.streamChanges(dec, lc); err != nil {
				return nil, err
			}
		case "planned_values":
			hasPlanned = true
			// Only a plan without changes is read from planned_values;
			// once resource_changes has elements, these are not kept.
			if planned, err = p.streamPlannedValues(dec, len(changes) == 0); err != nil {
				return nil, err
			}
		case "variables":
			p.variables = nil
			if err := dec.Decode(&p.variables); err != nil {
				return nil, p.invalid(err)
			}
		case "configuration":
			var c struct {
				ProviderConfig map[string]tfProviderConfig `json:"provider_config"`
				RootModule     tfConfigModule              `json:"root_module"`
			}
			if err := dec.Decode(&c); err != nil {
				return nil, p.invalid(err)
			}
			p.providers, p.keyOf, p.refsOf = c.ProviderConfig, map[string]string{}, map[string]map[string]string{}
			var walk func(prefix string, m tfConfigModule)
			walk = func(prefix string, m tfConfigModule) {
				for _, r := range m.Resources {
					typ, _, _ := strings.Cut(r.Address, ".")
					if r.ProviderConfigKey != "" && r.ProviderConfigKey != providerOf(typ) {
						p.keyOf[joinModule(prefix, r.Address)] = r.ProviderConfigKey
					}
					p.refsOf[joinModule(prefix, r.Address)] = planReferences(r.Expressions)
				}
				for call, c := range m.ModuleCalls {
					walk(joinModule(prefix, "module."+call), c.Module)
				}
			}
			walk("", c.RootModule)
		default:
			if err := skipValue(dec); err != nil {
				return nil, syntax(err)
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntax(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("invalid character after top-level value")
		}
		return nil, syntax(err)
	}
	switch {
	case !isPlan():
		return nil, errNotPlan
	case !hasChanges && !hasPlanned:
		return nil, fault.Invalidf("%s: not a Terraform plan: no resource_changes or planned_values (a state? use terraform show -json PLAN)", name)
	case len(changes) > 0:
		p.records = changes
	default:
		p.records = planned
	}
	return p, nil
}

func (p *tfPlan) invalid(err error) error {
	return fault.Invalidf("%s: not a Terraform plan: %v", p.name, err)
}

// streamChanges reads resource_changes one element at a time, keeping the
// managed resources the plan does not delete.
func (p *tfPlan) streamChanges(dec *json.Decoder, lc *lineCounter) ([]planRecord, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, p.invalid(err)
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, p.invalid(errors.New("resource_changes is not an array"))
	}
	var out []planRecord
	types := map[string]string{}
	for i := 0; dec.More(); i++ {
		before := dec.InputOffset()
		var rc struct {
			Address       string `json:"address"`
			ModuleAddress string `json:"module_address"`
			Mode          string `json:"mode"`
			Type          string `json:"type"`
			Name          string `json:"name"`
			Change        struct {
				Actions      []string        `json:"actions"`
				After        json.RawMessage `json:"after"`
				AfterUnknown json.RawMessage `json:"after_unknown"`
			} `json:"change"`
		}
		if err := dec.Decode(&rc); err != nil {
			return nil, p.invalid(err)
		}
		line := lc.lineAfter(before)
		if rc.Mode != "managed" || deletes(rc.Change.Actions) {
			continue
		}
		what := "resource_changes[" + strconv.Itoa(i) + "]"
		if rc.Type == "" || rc.Address == "" {
			return nil, fault.Invalidf("%s: %s has no type or address", p.name, what)
		}
		if !objectOrNull(rc.Change.After) {
			return nil, p.invalid(fmt.Errorf("%s: change.after is not an object", what))
		}
		out = append(out, planRecord{address: rc.Address, module: rc.ModuleAddress, typ: intern(types, rc.Type), name: rc.Name,
			after: rc.Change.After, unknown: rc.Change.AfterUnknown, line: line, what: what})
	}
	if _, err := dec.Token(); err != nil {
		return nil, p.invalid(err)
	}
	return out, nil
}

// streamPlannedValues reads planned_values' modules, a resource at a
// time; keep false reads and drops them (the plan has changes).
func (p *tfPlan) streamPlannedValues(dec *json.Decoder, keep bool) ([]planRecord, error) {
	var out []planRecord
	types := map[string]string{}
	// module reads one module object: its address, its resources and its
	// child modules, each member as it comes.
	var module func() error
	module = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok == nil {
			return nil
		}
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return errors.New("a module of planned_values is not an object")
		}
		address := ""
		var rs []planRecord
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			switch tok {
			case "address":
				if err := dec.Decode(&address); err != nil {
					return err
				}
			case "resources":
				if err := array(dec, func() error {
					var r struct {
						Address string          `json:"address"`
						Mode    string          `json:"mode"`
						Type    string          `json:"type"`
						Name    string          `json:"name"`
						Values  json.RawMessage `json:"values"`
					}
					if err := dec.Decode(&r); err != nil {
						return err
					}
					if !objectOrNull(r.Values) {
						return fmt.Errorf("planned_values resource %q: values is not an object", r.Address)
					}
					if keep && r.Mode == "managed" {
						rs = append(rs, planRecord{address: r.Address, typ: intern(types, r.Type), name: r.Name, after: r.Values,
							what: "planned_values resource " + strconv.Quote(r.Address)})
					}
					return nil
				}); err != nil {
					return err
				}
			case "child_modules":
				// A child module's resources come after its parent's, as
				// the old reader walked them; the parent's address may
				// come after its resources, so they are completed below.
				n := len(out)
				if err := array(dec, module); err != nil {
					return err
				}
				// Keep this module's resources before its children's.
				children := append([]planRecord(nil), out[n:]...)
				out = out[:n]
				defer func() { out = append(out, children...) }()
			default:
				if err := skipValue(dec); err != nil {
					return err
				}
			}
		}
		for i := range rs {
			rs[i].module = address
		}
		out = append(out, rs...)
		_, err = dec.Token()
		return err
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, p.invalid(err)
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, p.invalid(errors.New("planned_values is not an object"))
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, p.invalid(err)
		}
		if tok == "root_module" {
			err = module()
		} else {
			err = skipValue(dec)
		}
		if err != nil {
			return nil, p.invalid(err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, p.invalid(err)
	}
	for _, r := range out {
		if r.typ == "" || r.address == "" {
			return nil, fault.Invalidf("%s: %s has no type or address", p.name, r.what)
		}
	}
	return out, nil
}

// array calls each for every element of the array (or null) next in dec.
func array(dec *json.Decoder, each func() error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return errors.New("not an array")
	}
	for dec.More() {
		if err := each(); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

// skipValue reads past the next value token by token, so a large member
// the reader does not use (prior_state, output_changes) is never held.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

func objectOrNull(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || b[0] == '{' || bytes.Equal(b, []byte("null"))
}

// intern shares one string for each resource type.
func intern(m map[string]string, s string) string {
	if v, ok := m[s]; ok {
		return v
	}
	m[s] = s
	return s
}

// lineCounter counts the lines of what the decoder reads. It keeps only
// the bytes the decoder has read ahead of its position (which it drops on
// each read, counting their newlines), so the line where each element
// starts is known without holding the document.
type lineCounter struct {
	r        io.Reader
	dec      *json.Decoder
	win      []byte // bytes from offset base on
	base     int64
	newlines int // before base
}

func (l *lineCounter) Read(p []byte) (int, error) {
	if l.dec != nil {
		// The decoder's position never passes the start of a value it
		// has not finished; what lies before it is read for good.
		l.release(l.dec.InputOffset())
	}
	n, err := l.r.Read(p)
	l.win = append(l.win, p[:n]...)
	return n, err
}

func (l *lineCounter) release(off int64) {
	d := int(off - l.base)
	if d <= 0 {
		return
	}
	d = min(d, len(l.win))
	l.newlines += bytes.Count(l.win[:d], []byte{'\n'})
	l.win = l.win[d:]
	l.base += int64(d)
}

// lineAfter is the line (from 1) of the first byte at or after off that
// is not white space or a separator: where a value that the decoder read
// from off starts. Everything between off and the bytes kept is such
// separators (release drops nothing past a value's start).
func (l *lineCounter) lineAfter(off int64) int {
	l.release(off)
	line := l.newlines + 1
	for _, c := range l.win {
		switch c {
		case '\n':
			line++
		case ' ', '\t', '\r', ',', ':':
		default:
			return line
		}
	}
	return line
}

// resource decodes record i into a Resource: its values as config, its
// after_unknown, the region of its provider block and the provider's
// default tags merged into tags_all.
func (p *tfPlan) resource(i int) (Resource, error) {
	rec := &p.records[i]
	config := map[string]any{}
	if len(rec.after) > 0 {
		var m map[string]any
		if err := json.Unmarshal(rec.after, &m); err != nil {
			return Resource{}, fault.Invalidf("%s: %s: %v", p.name, rec.what, err)
		}
		if m != nil {
			config = m
		}
	}
	r := Resource{File: p.name, Line: rec.line}
	r.Provider, r.Type, r.ID, r.Config = providerOf(rec.typ), rec.typ, rec.address, config
	if len(rec.unknown) > 0 {
		var u any
		if err := json.Unmarshal(rec.unknown, &u); err != nil {
			return Resource{}, fault.Invalidf("%s: %s: %v", p.name, rec.what, err)
		}
		r.Unknown, _ = u.(map[string]any)
	}
	if refs, ok := p.refsOf[joinModule(stripIndices(rec.module), rec.typ+"."+rec.name)]; ok && len(refs) > 0 {
		r.References = make(map[string]string, len(refs))
		for arg, ref := range refs {
			if arg == "bucket" {
				// In the resource's own module instance, as the bucket's
				// address is.
				ref = joinModule(rec.module, ref)
			}
			r.References[arg] = ref
		}
	}
	if pc := p.provider(stripIndices(rec.module), rec.typ, rec.name); pc != nil {
		r.Region = p.region(pc)
		mergeDefaultTags(config, p.defaultTags(pc, rec.typ))
	}
	return r, nil
}

// provider is the provider block that configures a resource: the one its
// configuration names (provider_config_key), else its provider's default
// block; nil when the plan has neither.
func (p *tfPlan) provider(module, typ, rname string) *tfProviderConfig {
	k := [3]string{module, typ, rname}
	if pc, ok := p.pcs[k]; ok {
		return pc
	}
	key := p.keyOf[joinModule(module, typ+"."+rname)]
	if key == "" {
		key = providerOf(typ)
	}
	pc, ok := p.providers[key]
	if !ok {
		if _, after, found := strings.Cut(key, ":"); found {
			pc, ok = p.providers[after]
		}
	}
	if !ok {
		pc, ok = p.providers[providerOf(typ)]
	}
	var out *tfProviderConfig
	if ok {
		out = &pc
	}
	if p.pcs == nil {
		p.pcs = map[[3]string]*tfProviderConfig{}
	}
	// Resources of one module and type mostly share a block; the cache
	// is keyed by name too, so bound it.
	if len(p.pcs) < 10_000 {
		p.pcs[k] = out
	}
	return out
}

// value is an expression's value when the plan says it: a constant, or a
// root module's provider block naming one root variable.
func (p *tfPlan) value(pc *tfProviderConfig, e tfExpression) (any, bool) {
	if e.ConstantValue != nil {
		return e.ConstantValue, true
	}
	if len(e.References) > 0 && pc.ModuleAddress == "" {
		if v, found := strings.CutPrefix(e.References[0], "var."); found {
			if val, ok := p.variables[v]; ok && val.Value != nil {
				return val.Value, true
			}
		}
	}
	return nil, false
}

func (p *tfPlan) region(pc *tfProviderConfig) string {
	e, _ := pc.expression("region")
	v, _ := p.value(pc, e)
	s, _ := v.(string)
	return s
}

// defaultTags are the AWS provider's default_tags { tags = … }, which the
// provider adds to every resource's tags_all.
func (p *tfPlan) defaultTags(pc *tfProviderConfig, typ string) map[string]any {
	if providerOf(typ) != "aws" {
		return nil
	}
	out := map[string]any{}
	for _, b := range pc.blocks("default_tags") {
		var e tfExpression
		if json.Unmarshal(b["tags"], &e) != nil {
			continue
		}
		v, _ := p.value(pc, e)
		if m, ok := v.(map[string]any); ok {
			for k, t := range m {
				out[k] = t
			}
		}
	}
	return out
}

// ReadTerraformPlan reads the managed resources a plan (terraform show
// -json PLAN) creates, updates or keeps — not those it deletes — in every
// module: id the resource's address, config its planned values ("after"),
// region the constant (or root variable) region of its provider
// configuration. Line is where the resource's change starts in the JSON.
// A plan without resource_changes is read from planned_values.
func ReadTerraformPlan(name string, b []byte) ([]Resource, error) {
	p, err := streamPlan(name, bytes.NewReader(b))
	if errors.Is(err, errNotPlan) {
		var np notPlanError
		if errors.As(err, &np) && np.cause != nil {
			return nil, fault.Invalidf("%s: not a Terraform plan: %v", name, np.cause)
		}
		return nil, fault.Invalidf("%s: not a Terraform plan: no format_version/resource_changes (make one with terraform show -json PLAN)", name)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Resource, 0, len(p.records))
	for i := range p.records {
		r, err := p.resource(i)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
