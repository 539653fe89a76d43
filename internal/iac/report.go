package iac

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	"github.com/hatoba-cloud/hatoba/internal/controls"
)

// DefaultMaxPerControl is how many of one control's results WriteText
// lists before it summarises the rest: enough to find and fix a pattern,
// few enough that a plan of 200,000 resources gives a report a person can
// read (issue 10: 604 MB of output).
const DefaultMaxPerControl = 20

// WriteText writes one line per result — severity, control, resource,
// file:line, message — at most maxPerControl for each control (0: all),
// in the report's order; then, for each control and message whose results
// were not all listed, a line with how many more there are; then a
// summary line with the counts per severity.
func WriteText(w io.Writer, r Report, maxPerControl int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	type shape struct{ control, message string }
	listed := map[string]int{}
	more := map[shape]int{}
	var order []shape
	sev := map[string]controls.Severity{}
	for _, res := range r.Results {
		if maxPerControl <= 0 || listed[res.ControlID] < maxPerControl {
			listed[res.ControlID]++
			fmt.Fprintf(bw, "%-13s  %s  %s  %s  %s\n", strings.ToUpper(string(res.Severity)), res.ControlID,
				orDash(res.Resource), location(res), res.Message)
			continue
		}
		k := shape{res.ControlID, messageShape(res)}
		if more[k] == 0 {
			order = append(order, k)
		}
		more[k]++
		sev[res.ControlID] = res.Severity
	}
	for _, k := range order {
		fmt.Fprintf(bw, "%-13s  %s  %s  %s\n", strings.ToUpper(string(sev[k.control])), k.control,
			plural(more[k], "more violation"), k.message)
	}
	if len(order) > 0 {
		fmt.Fprintf(bw, "(at most %d violations listed per control)\n", maxPerControl)
	}
	counts := r.Count()
	parts := make([]string, 0, len(controls.Severities))
	for _, s := range controls.Severities {
		parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
	}
	fmt.Fprintf(bw, "%s in %s (%s, %s): %s\n", plural(len(r.Results), "violation"), plural(len(r.Files), "file"),
		plural(r.Resources, "resource"), plural(len(r.Controls), "proactive control"), strings.Join(parts, ", "))
	return bw.Flush()
}

// quoted is a value a control quotes in its message (a name, a region).
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// messageShape is what results of one control about different resources
// have in common: the message without the resource's id (lib.finding
// writes "id: message") and with the values it quotes as "…".
func messageShape(res Result) string {
	return quoted.ReplaceAllString(strings.TrimPrefix(res.Message, res.Resource+": "), `"…"`)
}

func location(res Result) string {
	if res.Line > 0 {
		return fmt.Sprintf("%s:%d", res.File, res.Line)
	}
	return res.File
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// WriteJSON writes the results as a JSON array, every one of them, one
// at a time (the array is never encoded whole), indented as
// json.Encoder.SetIndent("", "  ") would.
func WriteJSON(w io.Writer, r Report) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if len(r.Results) == 0 {
		_, _ = bw.WriteString("[]\n")
		return bw.Flush()
	}
	if err := writeArray(bw, len(r.Results), "", func(i int) any { return r.Results[i] }); err != nil {
		return err
	}
	_, _ = bw.WriteString("\n")
	return bw.Flush()
}

// writeArray writes n elements as an indented JSON array whose opening
// bracket is at indentation prefix (already written up to it).
func writeArray(bw *bufio.Writer, n int, prefix string, elem func(i int) any) error {
	_, _ = bw.WriteString("[")
	for i := range n {
		b, err := json.MarshalIndent(elem(i), prefix+"  ", "  ")
		if err != nil {
			return fmt.Errorf("iac: encoding result %d: %w", i, err)
		}
		if i > 0 {
			_, _ = bw.WriteString(",")
		}
		_, _ = bw.WriteString("\n" + prefix + "  ")
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	_, err := bw.WriteString("\n" + prefix + "]")
	return err
}

// SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/), the parts
// code scanning services read.
const (
	SARIFVersion = "2.1.0"
	SARIFSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	// InformationURI is where the tool is described.
	InformationURI = "https://github.com/hatoba-cloud/hatoba"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	ShortDescription sarifText      `json:"shortDescription"`
	FullDescription  sarifText      `json:"fullDescription"`
	Help             sarifText      `json:"help"`
	Properties       sarifRuleProps `json:"properties"`
}

type sarifRuleProps struct {
	SecuritySeverity string   `json:"security-severity"`
	Tags             []string `json:"tags"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

// securitySeverity is the CVSS-like score code scanning ranks by.
var securitySeverity = map[controls.Severity]string{
	controls.Critical: "9.5", controls.High: "8.0", controls.Medium: "5.5", controls.Low: "3.0", controls.Informational: "0.0",
}

func sarifLevel(s controls.Severity) string {
	switch s {
	case controls.Critical, controls.High:
		return "error"
	case controls.Medium:
		return "warning"
	}
	return "note"
}

// WriteSARIF writes the report as a SARIF 2.1.0 log with one run: a rule
// per proactive control evaluated (and any other control a result names),
// a result per violation located at its file and line. Paths are written
// as relative URIs as given; toolVersion is hatoba's version.
func WriteSARIF(w io.Writer, r Report, toolVersion string) error {
	driver := sarifDriver{Name: "hatoba", Version: toolVersion, InformationURI: InformationURI, Rules: []sarifRule{}}
	index := map[string]int{}
	addRule := func(c controls.Control) {
		index[c.ID] = len(driver.Rules)
		driver.Rules = append(driver.Rules, sarifRule{
			ID: c.ID, Name: ruleName(c.ID),
			ShortDescription: sarifText{c.Title.En},
			FullDescription:  sarifText{c.Description.En},
			Help:             sarifText{c.Remediation.En},
			Properties:       sarifRuleProps{SecuritySeverity: securitySeverity[c.Severity], Tags: frameworkTags(c.Frameworks)},
		})
	}
	for _, c := range r.Controls {
		addRule(c)
	}
	for _, res := range r.Results {
		if _, ok := index[res.ControlID]; !ok {
			addRule(controls.Control{ID: res.ControlID, Title: res.Title, Description: res.Title,
				Remediation: res.Remediation, Severity: res.Severity, Frameworks: res.Frameworks})
		}
	}
	// The log is written around its results, which are streamed one by
	// one: a code scanning service reads them all, however many.
	head, err := json.MarshalIndent(sarifLog{Schema: SARIFSchema, Version: SARIFVersion,
		Runs: []sarifRun{{Tool: sarifTool{Driver: driver}, Results: []sarifResult{}}}}, "", "  ")
	if err != nil {
		return fmt.Errorf("iac: encoding SARIF: %w", err)
	}
	const at = `"results": []`
	cut := bytes.LastIndex(head, []byte(at))
	bw := bufio.NewWriterSize(w, 64<<10)
	_, _ = bw.Write(head[:cut+len(at)-2])
	if len(r.Results) == 0 {
		_, _ = bw.WriteString("[]")
	} else if err := writeArray(bw, len(r.Results), "      ", func(i int) any {
		res := r.Results[i]
		loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: fileURI(res.File)}}}
		if res.Line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: res.Line}
		}
		return sarifResult{RuleID: res.ControlID, RuleIndex: index[res.ControlID],
			Level: sarifLevel(res.Severity), Message: sarifText{res.Message}, Locations: []sarifLocation{loc}}
	}); err != nil {
		return err
	}
	_, _ = bw.Write(head[cut+len(at):])
	_, _ = bw.WriteString("\n")
	return bw.Flush()
}

// ruleName is the control id in the PascalCase SARIF viewers expect of a
// rule's name (aws-iam-no-users → AwsIamNoUsers).
func ruleName(id string) string {
	var b strings.Builder
	for _, part := range strings.Split(id, "-") {
		for i, r := range part {
			if i == 0 {
				r = unicode.ToUpper(r)
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

func frameworkTags(f controls.Frameworks) []string {
	tags := []string{"security"}
	for _, set := range []struct {
		prefix string
		ids    []string
	}{{"NIST-800-53", f.NIST80053}, {"NIST-CSF", f.NISTCSF}, {"CIS", f.CIS}, {"ISMAP", f.ISMAP}} {
		for _, id := range set.ids {
			tags = append(tags, set.prefix+":"+id)
		}
	}
	return tags
}

// fileURI writes a path as a URI reference: relative paths stay relative
// (forward slashes, escaped), absolute ones become file:// URIs.
func fileURI(p string) string {
	slash := filepath.ToSlash(p)
	if filepath.IsAbs(p) {
		return (&url.URL{Scheme: "file", Path: slash}).String()
	}
	return (&url.URL{Path: slash}).String()
}
