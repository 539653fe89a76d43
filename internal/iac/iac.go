// Package iac reads infrastructure code — Terraform plans (terraform show
// -json) and CloudFormation templates — into the resources the controls
// evaluate (controls.Resource: Terraform's type names and attribute
// shapes), each with the file and line it came from, and scans them with
// the proactive controls. The same Scan serves the CLI (hatoba scan) and
// can serve an HTTP endpoint. docs/controls.md.
package iac

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Resource is a resource read from infrastructure code, with where it was
// written: File as the caller named it, Line from 1 (0 when unknown).
type Resource struct {
	controls.Resource
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
}

// File is one input: a name (a path, shown in findings) and its content.
// Region, when set, is the region of the resources whose code does not
// name one (a CloudFormation template is deployed to a region chosen
// outside it). Params are a CloudFormation template's parameter values
// (hatoba scan --param KEY=VALUE), which win over the parameters'
// defaults; a template without such a parameter ignores it.
//
// Open, when set, is used instead of Data: Scan streams a Terraform plan
// from it without holding the document (and opens it a second time to
// read anything else whole). The caller bounds what it returns.
type File struct {
	Name   string
	Data   []byte
	Open   func() (io.ReadCloser, error)
	Region string
	Params map[string]string
}

// Format is a kind of infrastructure code.
type Format string

const (
	TerraformPlan  Format = "terraform-plan"
	CloudFormation Format = "cloudformation"
)

// maxInput bounds what a reader accepts, so a caller cannot make it hold
// an unbounded document (an HTTP endpoint limits bodies before this).
const maxInput = 64 << 20

// Detect tells a Terraform plan from a CloudFormation template by content:
// a JSON object with format_version or resource_changes is a plan; a
// document with AWSTemplateFormatVersion, or Resources whose entries have
// a Type, is a template.
func Detect(name string, b []byte) (Format, error) {
	b = trimBOM(b)
	if len(bytes.TrimSpace(b)) == 0 {
		return "", fault.Invalidf("%s: the file is empty", name)
	}
	if len(b) > maxInput {
		return "", fault.Invalidf("%s: larger than %d MiB", name, maxInput>>20)
	}
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		// Only the top-level keys are decoded here; the reader decodes the rest.
		var top map[string]json.RawMessage
		if err := json.Unmarshal(b, &top); err != nil {
			return "", fault.Invalidf("%s: not valid JSON: %v", name, err)
		}
		_, changes := top["resource_changes"]
		_, version := top["format_version"]
		_, template := top["AWSTemplateFormatVersion"]
		var resources map[string]struct {
			Type json.RawMessage `json:"Type"`
		}
		switch {
		case changes || version:
			return TerraformPlan, nil
		case template:
			return CloudFormation, nil
		case json.Unmarshal(top["Resources"], &resources) == nil:
			for _, r := range resources {
				if r.Type != nil {
					return CloudFormation, nil
				}
			}
		}
		return "", notIaC(name)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return "", fault.Invalidf("%s: neither JSON nor YAML: %v", name, err)
	}
	// Decoding into a plain map would refuse the short-form tags (!Ref);
	// look at the top-level keys only.
	if root := resolveAlias(documentRoot(&doc)); root != nil && root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			switch k, v := root.Content[i].Value, resolveAlias(root.Content[i+1]); {
			case k == "AWSTemplateFormatVersion":
				return CloudFormation, nil
			case k == "Resources" && v != nil && v.Kind == yaml.MappingNode:
				for j := 0; j+1 < len(v.Content); j += 2 {
					if r := resolveAlias(v.Content[j+1]); r != nil && r.Kind == yaml.MappingNode && hasKey(r, "Type") {
						return CloudFormation, nil
					}
				}
			}
		}
	}
	return "", notIaC(name)
}

func notIaC(name string) error {
	return fault.Invalidf("%s: neither a Terraform plan (terraform show -json PLAN) nor a CloudFormation template (no AWSTemplateFormatVersion or Resources with a Type)", name)
}

// Read detects the file's format and reads its resources.
func Read(f File) ([]Resource, Format, error) {
	format, err := Detect(f.Name, f.Data)
	if err != nil {
		return nil, "", err
	}
	var rs []Resource
	switch format {
	case TerraformPlan:
		rs, err = ReadTerraformPlan(f.Name, f.Data)
	default:
		rs, err = readCloudFormation(f)
	}
	for i := range rs {
		if rs[i].Region == "" {
			rs[i].Region = f.Region
		}
	}
	return rs, format, err
}

func trimBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) }

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

// providerOf names the provider of a Terraform resource type by its prefix
// (aws_s3_bucket → aws).
func providerOf(t string) string {
	p, _, ok := strings.Cut(t, "_")
	if !ok || p == "" {
		return "other"
	}
	return p
}
