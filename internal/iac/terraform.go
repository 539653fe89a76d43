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
		Actions []string       `json:"actions"`
		After   map[string]any `json:"after"`
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

type tfProviderConfig struct {
	Name          string `json:"name"`
	ModuleAddress string `json:"module_address"`
	Expressions   map[string]struct {
		ConstantValue any      `json:"constant_value"`
		References    []string `json:"references"`
	} `json:"expressions"`
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
	region := func(module, typ, rname string) string {
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
		if !ok {
			return ""
		}
		e := pc.Expressions["region"]
		if s, ok := e.ConstantValue.(string); ok {
			return s
		}
		if len(e.References) > 0 && pc.ModuleAddress == "" {
			if v, found := strings.CutPrefix(e.References[0], "var."); found {
				s, _ := p.Variables[v].Value.(string)
				return s
			}
		}
		return ""
	}

	var out []Resource
	add := func(what, address, module, mode, typ, rname string, config map[string]any, line int) error {
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
		r.Region = region(stripIndices(module), typ, rname)
		out = append(out, r)
		return nil
	}
	if len(p.ResourceChanges) > 0 {
		for i, rc := range p.ResourceChanges {
			if deletes(rc.Change.Actions) {
				continue
			}
			what := "resource_changes[" + strconv.Itoa(i) + "]"
			if err := add(what, rc.Address, rc.ModuleAddress, rc.Mode, rc.Type, rc.Name, rc.Change.After,
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
			if err := add("planned_values resource "+strconv.Quote(r.Address), r.Address, m.Address, r.Mode, r.Type, r.Name, r.Values, 0); err != nil {
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
