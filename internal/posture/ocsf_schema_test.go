package posture_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The focused validator (ocsf_test.go) is written out by hand; this test
// holds it to OCSF's own 1.3.0 definitions, committed in testdata with
// their licence: what the validator requires must be what OCSF requires,
// its constraints OCSF's, its enum values OCSF's with OCSF's captions.

const ocsfDir = "testdata/ocsf-1.3.0"

type ocsfDefAttr struct {
	Requirement string                              `json:"requirement"`
	Enum        map[string]struct{ Caption string } `json:"enum"`
}

type ocsfDef struct {
	Extends     string                     `json:"extends"`
	Attributes  map[string]json.RawMessage `json:"attributes"`
	Constraints struct {
		AtLeastOne []string `json:"at_least_one"`
	} `json:"constraints"`
}

// resolvedAttr is an attribute with what its definition, its parents and
// its includes say: the requirement ("" when none says: optional) and the
// enum, when one of them gives it.
type resolvedAttr struct {
	requirement string
	enum        map[int]string
}

func readOCSF(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ocsfDir, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// resolve reads a class or object definition: its parent's attributes
// first (extends), then its includes' (profiles are optional and not
// declared by hatoba, so skipped), then its own over them.
func resolve(t *testing.T, path string) (map[string]resolvedAttr, []string) {
	t.Helper()
	var d ocsfDef
	readOCSF(t, path, &d)
	attrs := map[string]resolvedAttr{}
	var atLeastOne []string
	switch {
	case d.Extends == "" || d.Extends == "object":
	case strings.HasPrefix(path, "events/"):
		parent := "events/base_event.json"
		if d.Extends != "base_event" {
			parent = "events/findings/" + d.Extends + ".json"
		}
		attrs, atLeastOne = resolve(t, parent)
	default:
		attrs, atLeastOne = resolve(t, "objects/"+d.Extends+".json")
	}
	merge := func(raw map[string]json.RawMessage) {
		for name, v := range raw {
			if name == "$include" {
				continue
			}
			var a ocsfDefAttr
			if err := json.Unmarshal(v, &a); err != nil {
				t.Fatalf("%s: %s: %v", path, name, err)
			}
			r := attrs[name]
			if a.Requirement != "" {
				r.requirement = a.Requirement
			}
			if len(a.Enum) > 0 {
				r.enum = map[int]string{}
				for k, e := range a.Enum {
					n, err := strconv.Atoi(k)
					if err != nil {
						t.Fatalf("%s: %s: enum %q", path, name, k)
					}
					r.enum[n] = e.Caption
				}
			}
			attrs[name] = r
		}
	}
	if inc, ok := d.Attributes["$include"]; ok {
		var files []string
		if err := json.Unmarshal(inc, &files); err != nil {
			t.Fatalf("%s: $include: %v", path, err)
		}
		for _, f := range files {
			if strings.HasPrefix(f, "profiles/") {
				continue
			}
			var id ocsfDef
			readOCSF(t, f, &id)
			merge(id.Attributes)
		}
	}
	merge(d.Attributes)
	if len(d.Constraints.AtLeastOne) > 0 {
		atLeastOne = d.Constraints.AtLeastOne
	}
	return attrs, atLeastOne
}

// dictionaryEnum is the enum the dictionary gives an attribute.
func dictionaryEnum(t *testing.T, name string) map[int]string {
	t.Helper()
	var d struct {
		Attributes map[string]ocsfDefAttr `json:"attributes"`
	}
	readOCSF(t, "dictionary.json", &d)
	out := map[int]string{}
	for k, e := range d.Attributes[name].Enum {
		n, _ := strconv.Atoi(k)
		out[n] = e.Caption
	}
	return out
}

func TestOCSFValidatorMatchesTheSchema(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, what, path string, table ocsfObject) {
		t.Helper()
		official, atLeastOne := resolve(t, path)
		for name, a := range table.attrs {
			o, ok := official[name]
			if !ok {
				t.Errorf("%s: the validator allows %s, which OCSF 1.3.0 does not define", what, name)
				continue
			}
			if a.required != (o.requirement == "required") {
				t.Errorf("%s: the validator has %s required=%v; OCSF says %q", what, name, a.required, o.requirement)
			}
			if len(a.enum) == 0 {
				continue
			}
			if name == "class_uid" || name == "category_uid" {
				continue // derived from the class and its category, checked below
			}
			enum := o.enum
			if len(enum) == 0 {
				enum = dictionaryEnum(t, name)
			}
			for _, v := range a.enum {
				caption, ok := enum[v]
				if !ok {
					t.Errorf("%s: %s allows %d, which OCSF does not", what, name, v)
				}
				if a.caption != nil && a.caption[v] != caption {
					t.Errorf("%s: %s %d is %q in the validator, %q in OCSF", what, name, v, a.caption[v], caption)
				}
			}
		}
		var required []string
		for name, o := range official {
			if o.requirement == "required" {
				required = append(required, name)
				if a, ok := table.attrs[name]; !ok || !a.required {
					t.Errorf("%s: OCSF requires %s; the validator does not", what, name)
				}
			}
		}
		if len(required) == 0 && what == "class" {
			t.Errorf("%s: no required attribute resolved from %s: the definitions were not read", what, path)
		}
		want, got := slices.Clone(atLeastOne), slices.Clone(table.atLeastOne)
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(want, got) {
			t.Errorf("%s: at least one of %v, the validator says %v", what, want, got)
		}
	}
	check(t, "class", "events/findings/compliance_finding.json", complianceFinding)

	// class_uid = category uid × 1000 + the class's uid.
	var class struct {
		UID      int    `json:"uid"`
		Category string `json:"category"`
	}
	readOCSF(t, "events/findings/compliance_finding.json", &class)
	var cats struct {
		Attributes map[string]struct {
			UID int `json:"uid"`
		} `json:"attributes"`
	}
	readOCSF(t, "categories.json", &cats)
	category := cats.Attributes[class.Category].UID
	if got := complianceFinding.attrs["category_uid"].enum; !slices.Equal(got, []int{category}) {
		t.Errorf("category_uid: the validator allows %v; OCSF's %s category is %d", got, class.Category, category)
	}
	if got := complianceFinding.attrs["class_uid"].enum; !slices.Equal(got, []int{category*1000 + class.UID}) {
		t.Errorf("class_uid: the validator allows %v; OCSF's Compliance Finding is %d", got, category*1000+class.UID)
	}
	for name, obj := range ocsfObjects {
		check(t, name, "objects/"+name+".json", obj)
	}
}
