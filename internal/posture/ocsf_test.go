package posture_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// A focused validator of OCSF 1.3.0 Compliance Findings, written from the
// schema's definitions (github.com/ocsf/ocsf-schema at tag 1.3.0, Apache
// License 2.0): events/base_event.json, events/findings/finding.json and
// events/findings/compliance_finding.json for the class, objects/*.json
// for the objects hatoba fills, dictionary.json for the attributes' types
// and enums, categories.json for the category. It checks what a consumer
// relies on: every required attribute, each attribute's type, the enum
// values, the class and category uids, type_uid = class_uid × 100 +
// activity_id, and that no attribute is outside the class or object.
// Profiles (cloud, datetime, host, osint) are not declared in
// metadata.profiles, so their attributes are not required.

type ocsfType int

const (
	tInt ocsfType = iota
	tLong
	tTimestamp
	tString
	tStringArray
	tObject
	tObjectArray
)

type ocsfAttr struct {
	typ      ocsfType
	required bool
	enum     []int  // allowed values of an _id attribute
	object   string // the object's name, for tObject and tObjectArray
	// caption is the enum attribute whose sibling string holds the
	// caption (severity for severity_id).
	caption map[int]string
}

type ocsfObject struct {
	attrs map[string]ocsfAttr
	// atLeastOne: the object's constraint that one of these be present.
	atLeastOne []string
}

var (
	activityCaptions   = map[int]string{1: "Create", 2: "Update", 3: "Close"}                                                                       // finding.json
	severityCaptions   = map[int]string{0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal", 99: "Other"} // dictionary.json
	statusCaptions     = map[int]string{1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved"}                                                 // finding.json
	complianceCaptions = map[int]string{1: "Pass", 2: "Warning", 3: "Fail"}                                                                         // dictionary.json (compliance.status_id)
)

func keys(m map[int]string) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The Compliance Finding class (uid 3 in category findings, uid 2: class
// 2003) with the attributes of finding and base_event it extends. Only
// attributes hatoba may send are listed as optional; an attribute not
// listed is an error.
var complianceFinding = ocsfObject{attrs: map[string]ocsfAttr{
	"activity_id":   {typ: tInt, required: true, enum: keys(activityCaptions), caption: activityCaptions},
	"activity_name": {typ: tString},
	"category_uid":  {typ: tInt, required: true, enum: []int{2}},
	"category_name": {typ: tString},
	"class_uid":     {typ: tInt, required: true, enum: []int{2003}},
	"class_name":    {typ: tString},
	"type_uid":      {typ: tLong, required: true},
	"type_name":     {typ: tString},
	"time":          {typ: tTimestamp, required: true},
	"severity_id":   {typ: tInt, required: true, enum: keys(severityCaptions), caption: severityCaptions},
	"severity":      {typ: tString},
	"status_id":     {typ: tInt, enum: keys(statusCaptions), caption: statusCaptions},
	"status":        {typ: tString},
	"message":       {typ: tString},
	"metadata":      {typ: tObject, required: true, object: "metadata"},
	"finding_info":  {typ: tObject, required: true, object: "finding_info"},
	"compliance":    {typ: tObject, required: true, object: "compliance"},
	"remediation":   {typ: tObject, object: "remediation"},
	"resources":     {typ: tObjectArray, object: "resource_details"},
}}

var ocsfObjects = map[string]ocsfObject{
	"metadata": {attrs: map[string]ocsfAttr{
		"version": {typ: tString, required: true},
		"product": {typ: tObject, required: true, object: "product"},
		"uid":     {typ: tString},
	}},
	"product": {attrs: map[string]ocsfAttr{
		"vendor_name": {typ: tString, required: true},
		"name":        {typ: tString},
		"version":     {typ: tString},
	}, atLeastOne: []string{"name", "uid"}}, // _entity's constraint
	"finding_info": {attrs: map[string]ocsfAttr{
		"uid":             {typ: tString, required: true},
		"title":           {typ: tString, required: true},
		"desc":            {typ: tString},
		"first_seen_time": {typ: tTimestamp},
		"last_seen_time":  {typ: tTimestamp},
	}},
	"compliance": {attrs: map[string]ocsfAttr{
		"standards": {typ: tStringArray, required: true},
		"control":   {typ: tString},
		"status_id": {typ: tInt, enum: keys(complianceCaptions), caption: complianceCaptions},
		"status":    {typ: tString},
	}},
	"remediation": {attrs: map[string]ocsfAttr{
		"desc": {typ: tString, required: true},
	}},
	"resource_details": {attrs: map[string]ocsfAttr{
		"uid":   {typ: tString},
		"name":  {typ: tString},
		"type":  {typ: tString},
		"group": {typ: tObject, object: "group"},
		"owner": {typ: tObject, object: "user"},
	}, atLeastOne: []string{"name", "uid"}}, // _entity's constraint, through _resource
	"group": {attrs: map[string]ocsfAttr{
		"uid":  {typ: tString},
		"name": {typ: tString},
	}, atLeastOne: []string{"name", "uid"}},
	"user": {attrs: map[string]ocsfAttr{
		"uid":  {typ: tString},
		"name": {typ: tString},
	}, atLeastOne: []string{"account", "name", "uid"}},
}

// captionOf maps an enum attribute to its caption's sibling.
var captionOf = map[string]string{"activity_id": "activity_name", "severity_id": "severity", "status_id": "status"}

func validateOCSF(raw []byte) []string {
	var event map[string]any
	if err := json.Unmarshal(raw, &event); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var check func(path string, v map[string]any, o ocsfObject)
	check = func(path string, v map[string]any, o ocsfObject) {
		names := make([]string, 0, len(v))
		for name := range v {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if _, ok := o.attrs[name]; !ok {
				bad("%s%s is not an attribute of the class or object", path, name)
			}
		}
		for name, a := range o.attrs {
			val, present := v[name]
			p := path + name
			if !present {
				if a.required {
					bad("%s is required", p)
				}
				continue
			}
			switch a.typ {
			case tInt, tLong, tTimestamp:
				n, ok := val.(float64)
				if !ok || n != float64(int64(n)) {
					bad("%s is %v, not an integer", p, val)
					continue
				}
				if a.typ == tTimestamp && n < 1e12 {
					bad("%s = %v is not milliseconds since the epoch", p, n)
				}
				if a.enum != nil && !slices.Contains(a.enum, int(n)) {
					bad("%s = %v is not one of %v", p, n, a.enum)
				}
				if sib, ok := captionOf[name]; ok && a.caption != nil {
					if s, present := v[sib]; present && s != a.caption[int(n)] {
						bad("%s%s = %v, but %s %v is %q", path, sib, s, name, n, a.caption[int(n)])
					}
				}
			case tString:
				if _, ok := val.(string); !ok {
					bad("%s is %v, not a string", p, val)
				}
			case tStringArray:
				arr, ok := val.([]any)
				if !ok {
					bad("%s is %v, not an array of strings", p, val)
				}
				for _, s := range arr {
					if _, ok := s.(string); !ok {
						bad("%s holds %v, not a string", p, s)
					}
				}
			case tObject:
				m, ok := val.(map[string]any)
				if !ok {
					bad("%s is %v, not an object", p, val)
					continue
				}
				check(p+".", m, ocsfObjects[a.object])
			case tObjectArray:
				arr, ok := val.([]any)
				if !ok {
					bad("%s is %v, not an array", p, val)
					continue
				}
				for i, e := range arr {
					m, ok := e.(map[string]any)
					if !ok {
						bad("%s[%d] is not an object", p, i)
						continue
					}
					check(fmt.Sprintf("%s[%d].", p, i), m, ocsfObjects[a.object])
				}
			}
		}
		if len(o.atLeastOne) > 0 && !slices.ContainsFunc(o.atLeastOne, func(n string) bool { _, ok := v[n]; return ok }) {
			bad("%s needs at least one of %v", strings.TrimSuffix(path, "."), o.atLeastOne)
		}
		if sub, ok := v["compliance"].(map[string]any); ok {
			if s, present := sub["status"]; present {
				if id, ok := sub["status_id"].(float64); ok && s != complianceCaptions[int(id)] {
					bad("compliance.status %v, but status_id %v is %q", s, id, complianceCaptions[int(id)])
				}
			}
		}
	}
	check("", event, complianceFinding)
	class, _ := event["class_uid"].(float64)
	activity, _ := event["activity_id"].(float64)
	if typeUID, _ := event["type_uid"].(float64); typeUID != class*100+activity {
		bad("type_uid %v is not class_uid × 100 + activity_id = %v", typeUID, class*100+activity)
	}
	if class != 2003 || int(class)/1000 != 2 {
		bad("class_uid %v is not Compliance Finding (2003) in Findings (2)", class)
	}
	return problems
}

func TestOCSFAgainstSchema(t *testing.T) {
	t.Parallel()
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	later, resolvedAt := now.Add(time.Hour), now.Add(2*time.Hour)
	open := func(c controls.Control) posture.Finding {
		return posture.Finding{ID: "f-" + c.ID, EnvID: "env-1", OrgID: "nat-digital", ControlID: c.ID, ResourceID: "r-1",
			ResourceType: c.ResourceTypes[0], Severity: c.Severity, Message: c.ID + " fails", Status: posture.Open, FirstSeen: now, LastSeen: now}
	}
	tests := []struct {
		name     string
		f        func(controls.Control) posture.Finding
		activity int
		status   int
		time     time.Time
	}{
		{"ok/opened by this collection: Create", open, 1, 1, now},
		{"ok/still open at a later collection: Update", func(c controls.Control) posture.Finding {
			f := open(c)
			f.LastSeen = later
			return f
		}, 2, 1, later},
		{"ok/resolved: Close", func(c controls.Control) posture.Finding {
			f := open(c)
			f.LastSeen, f.Status, f.ResolvedAt = later, posture.Resolved, &resolvedAt
			return f
		}, 3, 4, resolvedAt},
		{"ok/open again after it was resolved: Update", func(c controls.Control) posture.Finding {
			f := open(c)
			f.LastSeen = resolvedAt.Add(time.Hour)
			return f
		}, 2, 1, resolvedAt.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range cs {
				raw, err := json.Marshal(tt.f(c).OCSF(c, "1.0.0"))
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range validateOCSF(raw) {
					t.Errorf("%s: %s", c.ID, p)
				}
				var o map[string]any
				_ = json.Unmarshal(raw, &o)
				if o["activity_id"] != float64(tt.activity) || o["status_id"] != float64(tt.status) || o["time"] != float64(tt.time.UnixMilli()) {
					t.Fatalf("%s: activity %v, status %v, time %v; want %d, %d, %d", c.ID, o["activity_id"], o["status_id"], o["time"],
						tt.activity, tt.status, tt.time.UnixMilli())
				}
				for _, s := range o["compliance"].(map[string]any)["standards"].([]any) {
					if strings.HasPrefix(s.(string), "ISMAP ") {
						t.Errorf("%s: unverified ISMAP id %v presented as a standard", c.ID, s)
					}
				}
			}
		})
	}
	// A finding of a control hatoba no longer knows is still valid OCSF.
	gone := posture.Finding{ID: "f-gone", EnvID: "env-1", ControlID: "gone", ResourceID: "r", Status: posture.Open, FirstSeen: now, LastSeen: now}
	raw, _ := json.Marshal(gone.OCSF(controls.Control{}, "1.0.0"))
	if p := validateOCSF(raw); len(p) > 0 {
		t.Errorf("unknown control: %v", p)
	}
}

// The validator refuses what the schema refuses.
func TestOCSFValidatorRefuses(t *testing.T) {
	t.Parallel()
	good := `{"class_uid":2003,"category_uid":2,"activity_id":2,"type_uid":200302,"time":1795000000000,"severity_id":4,
		"metadata":{"version":"1.3.0","product":{"vendor_name":"hatoba","name":"hatoba"}},"finding_info":{"uid":"f","title":"t"},"compliance":{"standards":[]}}`
	if p := validateOCSF([]byte(good)); len(p) > 0 {
		t.Fatalf("the minimal event: %v", p)
	}
	for name, change := range map[string][2]string{
		"fail/type_uid of another activity":  {`"type_uid":200302`, `"type_uid":200301`},
		"fail/activity 4":                    {`"activity_id":2,"type_uid":200302`, `"activity_id":4,"type_uid":200304`},
		"fail/no finding_info.title":         {`"title":"t"`, `"desc":"t"`},
		"fail/a product without name or uid": {`"vendor_name":"hatoba","name":"hatoba"`, `"vendor_name":"hatoba"`},
		"fail/no compliance.standards":       {`"standards":[]`, `"control":"c"`},
		"fail/severity 7":                    {`"severity_id":4`, `"severity_id":7`},
		"fail/time in seconds":               {`1795000000000`, `1795000000`},
		"fail/unknown attribute":             {`"severity_id":4`, `"severity_id":4,"sevrity":"High"`},
		"fail/caption does not match":        {`"activity_id":2`, `"activity_id":2,"activity_name":"Create"`},
		"fail/no product vendor":             {`"vendor_name":"hatoba"`, `"name":"hatoba"`},
	} {
		if p := validateOCSF([]byte(strings.Replace(good, change[0], change[1], 1))); len(p) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}
