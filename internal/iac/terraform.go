package iac

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// The parts of terraform show -json PLAN that the reader uses
// (https://developer.hashicorp.com/terraform/internals/json-format).
type tfPlan struct {
	FormatVersion string `json:"format_version"`
	Variables     map[string]struct {
		Value any `json:"value"`
	} `json:"variables"`
	PlannedValues struct {
		RootModule tfValuesModule `json:"root_module"`
	} `json:"planned_values"`
	ResourceChanges []tfChange `json:"resource_changes"`
	Configuration   struct {
		ProviderConfig map[string]tfProviderConfig `json:"provider_config"`
		RootModule     tfConfigModule              `json:"root_module"`
	} `json:"configuration"`
}

type tfChange struct {
	Address       string `json:"address"`
	ModuleAddress string `json:"module_address"`
	Mode          string `json:"mode"`
	Type          string `json:"type"`
	Name          string `json:"name"`
	Change        struct {
		Actions      []string       `json:"actions"`
		After        map[string]any `json:"after"`
		AfterUnknown any            `json:"after_unknown"`
	} `json:"change"`
}

type tfValuesModule struct {
	Address   string `json:"address"`
	Resources []struct {
		Address string         `json:"address"`
		Mode    string         `json:"mode"`
		Type    string         `json:"type"`
		Name    string         `json:"name"`
		Values  map[string]any `json:"values"`
	} `json:"resources"`
	ChildModules []tfValuesModule `json:"child_modules"`
}

type tfConfigModule struct {
	Resources []struct {
		Address           string `json:"address"`
		ProviderConfigKey string `json:"provider_config_key"`
	} `json:"resources"`
	ModuleCalls map[string]struct {
		Module tfConfigModule `json:"module"`
	} `json:"module_calls"`
}

// tfProviderConfig is a provider block. Its expressions are kept raw:
// an argument is an expression object ({"constant_value": …} or
// {"references": […]}), but a nested block (the AWS provider's
// default_tags { … }, azurerm's features {}) is an array of objects of
// expressions, and providers may add shapes of their own; each is
// decoded only where it is read, so no shape can make a plan unreadable.
type tfProviderConfig struct {
	Name          string                     `json:"name"`
	ModuleAddress string                     `json:"module_address"`
	Expressions   map[string]json.RawMessage `json:"expressions"`
}

// tfExpression is one argument's expression in the configuration.
type tfExpression struct {
	ConstantValue any      `json:"constant_value"`
	References    []string `json:"references"`
}

// expression decodes the argument name; ok is false when it is absent or
// not an expression object (a nested block).
func (pc tfProviderConfig) expression(name string) (tfExpression, bool) {
	var e tfExpression
	raw, ok := pc.Expressions[name]
	if !ok || json.Unmarshal(raw, &e) != nil {
		return tfExpression{}, false
	}
	return e, true
}

// blocks decodes the nested block name: a list of blocks, each a map of
// argument name to raw expression. Anything else is no block.
func (pc tfProviderConfig) blocks(name string) []map[string]json.RawMessage {
	var bs []map[string]json.RawMessage
	if raw, ok := pc.Expressions[name]; !ok || json.Unmarshal(raw, &bs) != nil {
		return nil
	}
	return bs
}

// ReadTerraformPlan reads the managed resources a plan (terraform show
// -json PLAN) creates, updates or keeps — not those it deletes — in every
// module: id the resource's address, config its planned values ("after"),
// region the constant (or root variable) region of its provider
// configuration. Line is where the resource's change starts in the JSON.
func ReadTerraformPlan(name string, b []byte) ([]Resource, error) {
	b = trimBOM(b)
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fault.Invalidf("%s: not a Terraform plan: %v", name, err)
	}
	_, hasChanges := keys["resource_changes"]
	_, hasVersion := keys["format_version"]
	if !hasChanges && !hasVersion {
		return nil, fault.Invalidf("%s: not a Terraform plan: no format_version/resource_changes (make one with terraform show -json PLAN)", name)
	}
	_, hasPlanned := keys["planned_values"]
	if !hasChanges && !hasPlanned {
		return nil, fault.Invalidf("%s: not a Terraform plan: no resource_changes or planned_values (a state? use terraform show -json PLAN)", name)
	}
	var p tfPlan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fault.Invalidf("%s: not a Terraform plan: %v", name, err)
	}
	lines, err := jsonLines(b, 2)
	if err != nil {
		return nil, fault.Invalidf("%s: %v", name, err)
	}
	keyOf := map[string]string{} // module path + resource address → provider config key
	var walkConfig func(prefix string, m tfConfigModule)
	walkConfig = func(prefix string, m tfConfigModule) {
		for _, r := range m.Resources {
			keyOf[joinModule(prefix, r.Address)] = r.ProviderConfigKey
		}
		for call, c := range m.ModuleCalls {
			walkConfig(joinModule(prefix, "module."+call), c.Module)
		}
	}
	walkConfig("", p.Configuration.RootModule)
	provider := func(module, typ, rname string) (tfProviderConfig, bool) {
		key := keyOf[joinModule(module, typ+"."+rname)]
		if key == "" {
			key = providerOf(typ)
		}
		pc, ok := p.Configuration.ProviderConfig[key]
		if !ok {
			if _, after, found := strings.Cut(key, ":"); found {
				pc, ok = p.Configuration.ProviderConfig[after]
			}
		}
		if !ok {
			pc, ok = p.Configuration.ProviderConfig[providerOf(typ)]
		}
		return pc, ok
	}
	// value is an expression's value when the plan says it: a constant,
	// or a root module's provider block naming one root variable.
	value := func(pc tfProviderConfig, e tfExpression) (any, bool) {
		if e.ConstantValue != nil {
			return e.ConstantValue, true
		}
		if len(e.References) > 0 && pc.ModuleAddress == "" {
			if v, found := strings.CutPrefix(e.References[0], "var."); found {
				if val, ok := p.Variables[v]; ok && val.Value != nil {
					return val.Value, true
				}
			}
		}
		return nil, false
	}
	region := func(pc tfProviderConfig) string {
		e, _ := pc.expression("region")
		v, _ := value(pc, e)
		s, _ := v.(string)
		return s
	}
	// defaultTags are the AWS provider's default_tags { tags = … }, which
	// the provider adds to every resource's tags_all.
	defaultTags := func(pc tfProviderConfig, typ string) map[string]any {
		if providerOf(typ) != "aws" {
			return nil
		}
		out := map[string]any{}
		for _, b := range pc.blocks("default_tags") {
			var e tfExpression
			if json.Unmarshal(b["tags"], &e) != nil {
				continue
			}
			v, _ := value(pc, e)
			if m, ok := v.(map[string]any); ok {
				for k, t := range m {
					out[k] = t
				}
			}
		}
		return out
	}

	var out []Resource
	add := func(what, address, module, mode, typ, rname string, config map[string]any, unknown any, line int) error {
		if mode != "managed" {
			return nil
		}
		if typ == "" || address == "" {
			return fault.Invalidf("%s: %s has no type or address", name, what)
		}
		if config == nil {
			config = map[string]any{}
		}
		r := Resource{File: name, Line: line}
		r.Provider, r.Type, r.ID, r.Config = providerOf(typ), typ, address, config
		r.Unknown, _ = unknown.(map[string]any)
		if pc, ok := provider(stripIndices(module), typ, rname); ok {
			r.Region = region(pc)
			mergeDefaultTags(config, defaultTags(pc, typ))
		}
		out = append(out, r)
		return nil
	}
	if len(p.ResourceChanges) > 0 {
		for i, rc := range p.ResourceChanges {
			if deletes(rc.Change.Actions) {
				continue
			}
			what := "resource_changes[" + strconv.Itoa(i) + "]"
			if err := add(what, rc.Address, rc.ModuleAddress, rc.Mode, rc.Type, rc.Name, rc.Change.After, rc.Change.AfterUnknown,
				lines[jsonPath("resource_changes", strconv.Itoa(i))]); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	// A plan without changes lists its resources in planned_values only.
	var walkValues func(m tfValuesModule) error
	walkValues = func(m tfValuesModule) error {
		for _, r := range m.Resources {
			if err := add("planned_values resource "+strconv.Quote(r.Address), r.Address, m.Address, r.Mode, r.Type, r.Name, r.Values, nil, 0); err != nil {
				return err
			}
		}
		for _, c := range m.ChildModules {
			if err := walkValues(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walkValues(p.PlannedValues.RootModule); err != nil {
		return nil, err
	}
	return out, nil
}

// mergeDefaultTags gives a resource whose tags_all the plan does not know
// what the provider will make of it: the provider's default tags, then the
// resource's own tags over them. A plan that knows tags_all (the provider
// computes it when every tag is known) keeps its own.
func mergeDefaultTags(config, defaults map[string]any) {
	if len(defaults) == 0 || config["tags_all"] != nil {
		return
	}
	all := make(map[string]any, len(defaults))
	for k, v := range defaults {
		all[k] = v
	}
	if own, ok := config["tags"].(map[string]any); ok {
		for k, v := range own {
			all[k] = v
		}
	}
	config["tags_all"] = all
}

// deletes reports whether a change's actions remove the resource for
// good (a replacement creates it again).
func deletes(actions []string) bool {
	return (slices.Contains(actions, "delete") || slices.Contains(actions, "forget")) && !slices.Contains(actions, "create")
}

func joinModule(prefix, addr string) string {
	if prefix == "" {
		return addr
	}
	return prefix + "." + addr
}

var indexPattern = regexp.MustCompile(`\[[^\]]*\]`)

// stripIndices turns a module instance address (module.a["x"].module.b[0])
// into the module's configuration path (module.a.module.b).
func stripIndices(addr string) string { return indexPattern.ReplaceAllString(addr, "") }
