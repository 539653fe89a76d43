package iac

import (
	"encoding/json"
	"regexp"
	"slices"
)

type tfConfigModule struct {
	Resources []struct {
		Address           string `json:"address"`
		ProviderConfigKey string `json:"provider_config_key"`
		// Expressions are kept raw: an argument is an expression object, a
		// nested block an array.
		Expressions map[string]json.RawMessage `json:"expressions"`
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

// bucketReference is the aws_s3_bucket a bucket argument's expression
// refers to, relative to its module ("aws_s3_bucket.archive",
// "aws_s3_bucket.logs[0]"): the first of its references that names one.
// hatoba.rego's plan_references reads the same from the same plan.
func bucketReference(expr json.RawMessage) string {
	var e struct {
		References []string `json:"references"`
	}
	if len(expr) == 0 || json.Unmarshal(expr, &e) != nil {
		return ""
	}
	for _, ref := range e.References {
		if m := bucketRefPattern.FindString(ref); m != "" {
			return m
		}
	}
	return ""
}

var bucketRefPattern = regexp.MustCompile(`^aws_s3_bucket\.[A-Za-z0-9_-]+(\[[^\]]*\])?`)

// keyArguments are the arguments naming a KMS key that a provider
// computes when the code leaves them out (the AWS managed key). A plan
// marks such a computed value unknown exactly as it marks a reference to
// a key the same plan creates; only the configuration tells them apart.
var keyArguments = []string{"kms_key_id", "kms_master_key_id", "kms_key_arn"}

// planReferences is what the plan's configuration says a resource's
// arguments refer to: "bucket", the aws_s3_bucket its bucket argument names
// (relative to its module); for each key argument, its first reference,
// or "" when the code does not set the argument at all (the provider
// computes it). A constant adds nothing, and a configuration without
// expressions (an abbreviated plan) says nothing of the key arguments.
// hatoba.rego's plan_references reads the same from the same plan.
func planReferences(exprs map[string]json.RawMessage) map[string]string {
	out := map[string]string{}
	if ref := bucketReference(exprs["bucket"]); ref != "" {
		out["bucket"] = ref
	}
	if exprs == nil {
		return out
	}
	for _, arg := range keyArguments {
		raw, set := exprs[arg]
		if !set {
			out[arg] = ""
			continue
		}
		var e struct {
			References []string `json:"references"`
		}
		if json.Unmarshal(raw, &e) == nil && len(e.References) > 0 {
			out[arg] = e.References[0]
		}
	}
	return out
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
