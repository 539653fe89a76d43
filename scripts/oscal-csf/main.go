// Command oscal-csf writes the NIST CSF 2.0 subcategories hatoba ships
// (internal/controls/frameworks/nist-csf-2.0.json: id → outcome text, in
// the framework's order) from NIST's OSCAL catalog of CSF 2.0
// (NIST_CSF_v2.0_catalog.xml; usnistgov/oscal-content,
// src/nist.gov/CSF/v2.0/xml/, public domain).
//
//	go run ./scripts/oscal-csf -in ../shared/data/oscal/NIST_CSF_v2.0_catalog.xml -out internal/controls/frameworks/nist-csf-2.0.json
//
// NIST's catalog also carries the CSF 1.1 subcategories that 2.0 withdrew
// (ID.AM-06, PR.AC-01, every subcategory of ID.BE, PR.IP, DE.DP …), with
// their 1.1 texts and no marker saying so. What sets the 2.0 subcategories
// apart in the file is that each has NIST's CSF 2.0 implementation
// examples (parts named "example" in the CSF namespace) and belongs to a
// category with a statement; the withdrawn ones have neither examples
// nor, for withdrawn categories, a statement. The command keeps the
// subcategories with examples and fails unless it finds exactly the 106
// subcategories and 22 categories CSF 2.0 (NIST CSWP 29) has, so a change
// in NIST's file cannot slip through.
package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"strings"
)

const csfNS = "https://csrc.nist.gov/ns/csf"

type part struct {
	Name  string `xml:"name,attr"`
	NS    string `xml:"ns,attr"`
	Inner []byte `xml:",innerxml"`
}

type control struct {
	ID       string    `xml:"id,attr"`
	Class    string    `xml:"class,attr"`
	Parts    []part    `xml:"part"`
	Controls []control `xml:"control"`
}

type group struct {
	ID       string    `xml:"id,attr"`
	Controls []control `xml:"control"`
	Groups   []group   `xml:"group"`
}

type catalog struct {
	Groups []group `xml:"group"`
}

func main() {
	in := flag.String("in", "", "NIST's OSCAL catalog of CSF 2.0 (XML)")
	out := flag.String("out", "", "file to write (- for standard output)")
	flag.Parse()
	if *in == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: oscal-csf -in NIST_CSF_v2.0_catalog.xml -out FILE")
		os.Exit(2)
	}
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "oscal-csf:", err)
		os.Exit(1)
	}
}

type subcategory struct{ id, text string }

func run(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var cat catalog
	if err := xml.Unmarshal(b, &cat); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	var subs []subcategory
	categories := 0
	for _, g := range cat.Groups {
		for _, c := range g.Controls {
			if c.Class != "category" {
				continue
			}
			if text(c, "statement") == "" {
				continue // a CSF 1.1 category 2.0 withdrew
			}
			categories++
			for _, s := range c.Controls {
				if s.Class != "subcategory" || !hasExamples(s) {
					continue
				}
				t := text(s, "statement")
				if t == "" {
					return fmt.Errorf("%s has examples but no statement", s.ID)
				}
				subs = append(subs, subcategory{s.ID, t})
			}
		}
	}
	if categories != 22 || len(subs) != 106 {
		return fmt.Errorf("found %d categories and %d subcategories; CSF 2.0 has 22 and 106", categories, len(subs))
	}
	var buf bytes.Buffer
	buf.WriteString("{\n")
	for i, s := range subs {
		k, _ := json.Marshal(s.id)
		v, err := json.Marshal(s.text)
		if err != nil {
			return err
		}
		fmt.Fprintf(&buf, "  %s: %s", k, v)
		if i < len(subs)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("}\n")
	if out == "-" {
		_, err = os.Stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

func hasExamples(c control) bool {
	for _, p := range c.Parts {
		if p.Name == "example" && p.NS == csfNS {
			return true
		}
	}
	return false
}

// text is the prose of c's part named name, its whitespace collapsed.
func text(c control, name string) string {
	for _, p := range c.Parts {
		if p.Name != name {
			continue
		}
		var words []string
		dec := xml.NewDecoder(bytes.NewReader(p.Inner))
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			if cd, ok := tok.(xml.CharData); ok {
				words = append(words, strings.Fields(string(cd))...)
			}
		}
		return strings.Join(words, " ")
	}
	return ""
}
