// Command oscal-ids writes the NIST SP 800-53 rev5 control ids and titles
// that hatoba ships (internal/controls/frameworks/nist-800-53r5.json) from
// NIST's OSCAL catalogs: every *.json under -in (the HIGH and PRIVACY
// baselines resolved into catalogs; usnistgov/oscal-content,
// nist.gov/SP800-53/rev5/json/, public domain).
//
//	go run ./scripts/oscal-ids -in /work/shared/data/oscal -out internal/controls/frameworks/nist-800-53r5.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type control struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Controls []control `json:"controls"`
}

type group struct {
	ID       string    `json:"id"`
	Controls []control `json:"controls"`
	Groups   []group   `json:"groups"`
}

type document struct {
	Catalog struct {
		Groups   []group   `json:"groups"`
		Controls []control `json:"controls"`
	} `json:"catalog"`
}

func main() {
	in := flag.String("in", "", "directory of OSCAL catalog JSON files")
	out := flag.String("out", "", "file to write (- for standard output)")
	flag.Parse()
	if *in == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: oscal-ids -in DIR -out FILE")
		os.Exit(2)
	}
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "oscal-ids:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	files, err := filepath.Glob(filepath.Join(in, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no *.json in %s", in)
	}
	titles := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var doc document
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, g := range doc.Catalog.Groups {
			walkGroup(g, titles)
		}
		walk(doc.Catalog.Controls, titles)
	}
	if len(titles) == 0 {
		return fmt.Errorf("no controls in %s", in)
	}
	b, err := encode(titles)
	if err != nil {
		return err
	}
	if out == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

func walkGroup(g group, titles map[string]string) {
	walk(g.Controls, titles)
	for _, sub := range g.Groups {
		walkGroup(sub, titles)
	}
}

func walk(cs []control, titles map[string]string) {
	for _, c := range cs {
		if id, ok := hatobaID(c.ID); ok {
			titles[id] = strings.Join(strings.Fields(c.Title), " ")
		}
		walk(c.Controls, titles)
	}
}

// hatobaID turns OSCAL's "ac-2" and "ac-2.1" into "AC-2" and "AC-2(1)".
func hatobaID(oscal string) (string, bool) {
	family, rest, ok := strings.Cut(oscal, "-")
	if !ok || len(family) != 2 || rest == "" {
		return "", false
	}
	base, enh, hasEnh := strings.Cut(rest, ".")
	id := strings.ToUpper(family) + "-" + base
	if hasEnh {
		id += "(" + enh + ")"
	}
	return id, true
}

// encode writes the object with its keys in hatoba's order: by family,
// then control number, then enhancement number (AC-2 before AC-2(1)
// before AC-10), one key a line.
func encode(titles map[string]string) ([]byte, error) {
	ids := make([]string, 0, len(titles))
	for id := range titles {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return less(ids[i], ids[j]) })
	var buf bytes.Buffer
	buf.WriteString("{\n")
	for i, id := range ids {
		k, _ := json.Marshal(id)
		v, err := json.Marshal(titles[id])
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&buf, "  %s: %s", k, v)
		if i < len(ids)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("}\n")
	return buf.Bytes(), nil
}

func less(a, b string) bool {
	fa, na, ea := parts(a)
	fb, nb, eb := parts(b)
	if fa != fb {
		return fa < fb
	}
	if na != nb {
		return na < nb
	}
	return ea < eb
}

func parts(id string) (family string, n, enh int) {
	family, rest, _ := strings.Cut(id, "-")
	enh = -1
	if base, e, ok := strings.Cut(rest, "("); ok {
		rest = base
		_, _ = fmt.Sscanf(strings.TrimSuffix(e, ")"), "%d", &enh)
	}
	_, _ = fmt.Sscanf(rest, "%d", &n)
	return family, n, enh
}
