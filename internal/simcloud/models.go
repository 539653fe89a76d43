package simcloud

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sync"
	"unicode/utf8"
)

// Every request's input is checked against AWS's own model of the
// operation — botocore's service-2.json, trimmed to what is implemented
// (awsmodels/SOURCE.md) — before the operation runs, as AWS checks it:
// required members, lengths, enums, patterns and ranges, anywhere in the
// input. The operations then check what the model cannot say (ids that
// exist, limits, states). A constraint the model declares is so never
// forgotten by a handler, and the fidelity tests hold the answers to the
// same models.

//go:embed awsmodels/*/*/service-2.json
var modelFiles embed.FS

// modelPaths maps a service's signing name to its model.
var modelPaths = map[string]string{
	"organizations":  "awsmodels/organizations/2016-11-28/service-2.json",
	"sso":            "awsmodels/sso-admin/2020-07-20/service-2.json",
	"identitystore":  "awsmodels/identitystore/2020-06-15/service-2.json",
	"kms":            "awsmodels/kms/2014-11-01/service-2.json",
	"config":         "awsmodels/config/2014-11-12/service-2.json",
	"account":        "awsmodels/account/2021-02-01/service-2.json",
	"cloudformation": "awsmodels/cloudformation/2010-05-15/service-2.json",
}

type serviceModel struct {
	Operations map[string]struct {
		Input *struct {
			Shape string `json:"shape"`
		} `json:"input"`
	} `json:"operations"`
	Shapes map[string]*modelShape `json:"shapes"`
}

type modelShape struct {
	Type     string   `json:"type"`
	Required []string `json:"required"`
	Members  map[string]struct {
		Shape string `json:"shape"`
	} `json:"members"`
	Member *struct {
		Shape string `json:"shape"`
	} `json:"member"`
	Value *struct {
		Shape string `json:"shape"`
	} `json:"value"`
	Enum    []string `json:"enum"`
	Pattern string   `json:"pattern"`
	Min     *float64 `json:"min"`
	Max     *float64 `json:"max"`

	re *regexp.Regexp // Pattern compiled; nil when Go's regexp cannot read it
}

// javaEscapes are the \uXXXX escapes of AWS's (Java) patterns, which Go
// writes \x{XXXX}.
var javaEscapes = regexp.MustCompile(`\\u([0-9A-Fa-f]{4})`)

var (
	modelsOnce sync.Once
	models     map[string]*serviceModel
	modelsErr  error
)

func loadModels() (map[string]*serviceModel, error) {
	modelsOnce.Do(func() {
		models = map[string]*serviceModel{}
		for signing, path := range modelPaths {
			b, err := modelFiles.ReadFile(path)
			if err != nil {
				modelsErr = err
				return
			}
			m := &serviceModel{}
			if err := json.Unmarshal(b, m); err != nil {
				modelsErr = fmt.Errorf("%s: %w", path, err)
				return
			}
			for _, sh := range m.Shapes {
				if sh.Pattern != "" {
					// AWS's patterns match anywhere unless anchored, as
					// Go's MatchString does; the one Go cannot read (a
					// lookahead in sso-admin's Duration) is left to the
					// handler.
					sh.re, _ = regexp.Compile(javaEscapes.ReplaceAllString(sh.Pattern, `\x{$1}`))
				}
			}
			models[signing] = m
		}
	})
	return models, modelsErr
}

// violation is one broken constraint: the member's path, the kind
// (Organizations' InvalidInputException reason) and a message that does
// not repeat the value, which may be secret.
type violation struct {
	field, reason, msg string
}

// validateInput checks body against the input shape of op in the model of
// the service signed as signing, and returns the first violation excused
// does not excuse; nil when it conforms, when the body is not JSON (the
// handler's decoder answers that) or when there is no model.
func validateInput(signing, op string, body []byte, excused func(*violation) bool) *violation {
	ms, err := loadModels()
	if err != nil {
		return nil
	}
	m := ms[signing]
	if m == nil {
		return nil
	}
	o, ok := m.Operations[op]
	if !ok || o.Input == nil {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if len(bytes.TrimSpace(body)) == 0 {
		v = map[string]any{}
	} else if dec.Decode(&v) != nil {
		return nil
	}
	if excused == nil {
		excused = func(*violation) bool { return false }
	}
	return m.check(o.Input.Shape, v, "", excused)
}

func (m *serviceModel) check(name string, v any, path string, excused func(*violation) bool) *violation {
	sh := m.Shapes[name]
	if sh == nil || v == nil {
		return nil
	}
	at := func(reason, format string, args ...any) *violation {
		p := path
		if p == "" {
			p = "input"
		}
		bad := &violation{field: p, reason: reason, msg: fmt.Sprintf("1 validation error detected: Value at '%s' failed to satisfy constraint: ", p) + fmt.Sprintf(format, args...)}
		if excused(bad) {
			return nil
		}
		return bad
	}
	join := func(member string) string {
		if path == "" {
			return member
		}
		return path + "." + member
	}
	switch sh.Type {
	case "structure":
		obj, ok := v.(map[string]any)
		if !ok {
			return nil // the handler's decoder refuses the wrong type
		}
		for _, req := range sh.Required {
			if obj[req] == nil {
				p := join(req)
				if bad := (&violation{field: p, reason: "INPUT_REQUIRED", msg: fmt.Sprintf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", p)}); !excused(bad) {
					return bad
				}
			}
		}
		for _, member := range sortedKeys(obj) {
			if ref, ok := sh.Members[member]; ok {
				if bad := m.check(ref.Shape, obj[member], join(member), excused); bad != nil {
					return bad
				}
			}
		}
	case "list":
		arr, ok := v.([]any)
		if !ok {
			return nil
		}
		n := float64(len(arr))
		if sh.Min != nil && n < *sh.Min {
			return at("MIN_LENGTH_EXCEEDED", "Member must have length greater than or equal to %v", *sh.Min)
		}
		if sh.Max != nil && n > *sh.Max {
			return at("MAX_LENGTH_EXCEEDED", "Member must have length less than or equal to %v", *sh.Max)
		}
		for i, e := range arr {
			if bad := m.check(sh.Member.Shape, e, fmt.Sprintf("%s[%d]", path, i), excused); bad != nil {
				return bad
			}
		}
	case "map":
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		for _, k := range sortedKeys(obj) {
			if bad := m.check(sh.Value.Shape, obj[k], path+"."+k, excused); bad != nil {
				return bad
			}
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			return nil
		}
		n := float64(utf8.RuneCountInString(s))
		if sh.Min != nil && n < *sh.Min {
			return at("MIN_LENGTH_EXCEEDED", "Member must have length greater than or equal to %v", *sh.Min)
		}
		if sh.Max != nil && n > *sh.Max {
			return at("MAX_LENGTH_EXCEEDED", "Member must have length less than or equal to %v", *sh.Max)
		}
		if len(sh.Enum) > 0 {
			for _, e := range sh.Enum {
				if s == e {
					return nil
				}
			}
			return at("INVALID_ENUM", "Member must satisfy enum value set: %v", sh.Enum)
		}
		if sh.re != nil && !sh.re.MatchString(s) {
			return at("INVALID_PATTERN", "Member must satisfy regular expression pattern: %s", sh.Pattern)
		}
	case "integer", "long":
		num, ok := v.(json.Number)
		if !ok {
			return nil
		}
		f, err := num.Float64()
		if err != nil {
			return nil
		}
		if sh.Min != nil && f < *sh.Min {
			return at("MIN_VALUE_EXCEEDED", "Member must have value greater than or equal to %v", *sh.Min)
		}
		if sh.Max != nil && f > *sh.Max {
			return at("MAX_VALUE_EXCEEDED", "Member must have value less than or equal to %v", *sh.Max)
		}
	}
	return nil
}

// sortedKeys orders members so that the first violation reported is
// always the same one.
func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// invalidInput is AWS's answer to a broken constraint: Organizations'
// InvalidInputException with its Reason (the e-mail's own), every other
// service's ValidationException.
func invalidInput(signing string, v *violation) error {
	if signing == "organizations" {
		reason := v.reason
		if reason == "INVALID_PATTERN" && v.field == "Email" {
			reason = "INVALID_EMAIL_ADDRESS_TARGET"
		}
		return orgInvalid(v.field, reason, v.msg)
	}
	if signing == "account" {
		return accountInvalid(v.field, v.reason, v.msg)
	}
	if signing == "cloudformation" {
		return &apiError{Status: 400, Code: "ValidationError", Message: v.msg}
	}
	return &apiError{Status: 400, Code: "ValidationException", Message: v.msg}
}
