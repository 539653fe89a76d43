package iac

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/hatoba-cloud/hatoba/internal/controls"
)

// Result is one violation found in infrastructure code.
type Result struct {
	ControlID   string              `json:"control_id"`
	Title       controls.Text       `json:"title"`
	Severity    controls.Severity   `json:"severity"`
	Resource    string              `json:"resource"`
	Type        string              `json:"type"`
	File        string              `json:"file"`
	Line        int                 `json:"line,omitempty"`
	Message     string              `json:"message"`
	Remediation controls.Text       `json:"remediation"`
	Frameworks  controls.Frameworks `json:"frameworks"`
}

// Report is what a scan found: the results ordered by file (as given),
// line, resource and control; the controls that were evaluated, by id;
// and what was read.
type Report struct {
	Results   []Result           `json:"results"`
	Controls  []controls.Control `json:"-"`
	Files     []string           `json:"files"`
	Resources int                `json:"resources"`
}

// Count is the number of results at each severity.
func (r Report) Count() map[controls.Severity]int {
	n := map[controls.Severity]int{}
	for _, res := range r.Results {
		n[res.Severity]++
	}
	return n
}

// AtLeast is the number of results at min or more severe.
func (r Report) AtLeast(min controls.Severity) int {
	n := 0
	for _, res := range r.Results {
		if res.Severity.AtLeast(min) {
			n++
		}
	}
	return n
}

// Scan reads every file (Read detects its format) and evaluates the
// engine's proactive controls over its resources. A file that cannot be
// read is an error naming it (fault.Invalid); nothing is scanned then.
//
// A file with Open is streamed (tfstream.go): a Terraform plan is never
// held whole, only its resources' raw values, and they are decoded batch
// by batch (batch.go), so a plan of 200,000 resources is scanned in a few
// hundred megabytes.
func Scan(ctx context.Context, e *controls.Engine, files []File) (Report, error) {
	var rep Report
	byID := map[string]controls.Control{}
	classes := map[evalClass]map[string]bool{whole: {}, perResource: {}, byBucket: {}}
	types := map[evalClass]map[string]bool{whole: {}, perResource: {}, byBucket: {}}
	for _, c := range e.Controls() {
		if !c.Has(controls.Proactive) {
			continue
		}
		byID[c.ID] = c
		rep.Controls = append(rep.Controls, c)
		k := classify(c)
		classes[k][c.ID] = true
		for _, t := range c.ResourceTypes {
			types[k][t] = true
		}
	}
	sort.Slice(rep.Controls, func(i, j int) bool { return rep.Controls[i].ID < rep.Controls[j].ID })
	for _, f := range files {
		src, err := open(f)
		if err != nil {
			return Report{}, err
		}
		rep.Files = append(rep.Files, f.Name)
		rep.Resources += src.len()
		// One evaluation (of batches) per file, so a resource id names
		// one resource (two templates may both have a logical id "Bucket").
		ev := evaluator{ctx: ctx, engine: e, byID: byID, src: src, file: f.Name}
		for _, k := range []evalClass{perResource, byBucket, whole} {
			if len(classes[k]) == 0 {
				continue
			}
			if err := ev.run(k, classes[k], types[k]); err != nil {
				return Report{}, err
			}
		}
		found := ev.found
		slices.SortStableFunc(found, func(a, b Result) int {
			switch {
			case a.Line != b.Line:
				return a.Line - b.Line
			case a.Resource != b.Resource:
				return cmp.Compare(a.Resource, b.Resource)
			case a.ControlID != b.ControlID:
				return cmp.Compare(a.ControlID, b.ControlID)
			}
			return cmp.Compare(a.Message, b.Message)
		})
		rep.Results = append(rep.Results, found...)
	}
	return rep, nil
}

// source is one file's resources, decoded on demand.
type source interface {
	len() int
	typeOf(i int) string
	resource(i int) (Resource, error)
}

type sliceSource []Resource

func (s sliceSource) len() int                         { return len(s) }
func (s sliceSource) typeOf(i int) string              { return s[i].Type }
func (s sliceSource) resource(i int) (Resource, error) { return s[i], nil }

// planSource is a streamed plan; region stands in for resources whose
// provider names none.
type planSource struct {
	plan   *tfPlan
	region string
}

func (s planSource) len() int            { return len(s.plan.records) }
func (s planSource) typeOf(i int) string { return s.plan.records[i].typ }
func (s planSource) resource(i int) (Resource, error) {
	r, err := s.plan.resource(i)
	if err == nil && r.Region == "" {
		r.Region = s.region
	}
	return r, err
}

// open reads f: a Terraform plan is streamed (from f.Open, or from f.Data
// once Detect has said what it is), anything else is read whole.
func open(f File) (source, error) {
	if f.Open == nil {
		format, err := Detect(f.Name, f.Data)
		if err != nil {
			return nil, err
		}
		if format == TerraformPlan {
			p, err := streamPlan(f.Name, bytes.NewReader(f.Data))
			if errors.Is(err, errNotPlan) {
				return nil, notIaC(f.Name)
			}
			if err != nil {
				return nil, err
			}
			return planSource{p, f.Region}, nil
		}
		rs, _, err := Read(f)
		return sliceSource(rs), err
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	p, err := streamPlan(f.Name, rc)
	if cerr := rc.Close(); err == nil && cerr != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, cerr)
	}
	if err == nil {
		return planSource{p, f.Region}, nil
	}
	if !errors.Is(err, errNotPlan) {
		return nil, err
	}
	// Not a plan (a CloudFormation template, or not JSON at all): read it
	// whole, as the byte reader names what it is or what is wrong.
	if rc, err = f.Open(); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	b, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	f.Data, f.Open = b, nil
	rs, _, err := Read(f)
	return sliceSource(rs), err
}

// evaluator evaluates one file's resources in batches and gathers the
// results.
type evaluator struct {
	ctx    context.Context
	engine *controls.Engine
	byID   map[string]controls.Control
	src    source
	file   string
	found  []Result
}

// run evaluates the controls ids (all of class k) over the resources of
// their types.
func (ev *evaluator) run(k evalClass, ids, types map[string]bool) error {
	only := func(c controls.Control) bool { return ids[c.ID] }
	var idx []int
	for i := range ev.src.len() {
		if types[ev.src.typeOf(i)] {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	switch k {
	case perResource:
		for start := 0; start < len(idx); start += batchSize {
			if err := ev.batch(idx[start:min(start+batchSize, len(idx))], only, nil); err != nil {
				return err
			}
		}
		return nil
	case byBucket:
		return ev.byBucket(idx, only)
	}
	return ev.batch(idx, only, nil)
}

// byBucket evaluates S3 controls in batches of whole buckets: a bucket
// with the companions that name it, and in every batch what may configure
// any bucket. A resource in several batches may be found in each; seen
// keeps one result.
func (ev *evaluator) byBucket(idx []int, only func(controls.Control) bool) error {
	var order []string
	groups := map[string][]int{}
	var shared []int
	for _, i := range idx {
		r, err := ev.src.resource(i)
		if err != nil {
			return err
		}
		key := fmt.Sprintf("#%d", i) // a resource that names no bucket matches none by name
		switch b, named := r.Config["bucket"]; {
		case r.Type == "aws_s3_account_public_access_block",
			r.Type != "aws_s3_bucket" && r.Unknown["bucket"] == true:
			shared = append(shared, i)
			continue
		case named:
			j, err := json.Marshal(b)
			if err != nil {
				return fmt.Errorf("%s: %s: bucket: %w", ev.file, r.ID, err)
			}
			key = string(j)
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], i)
	}
	if len(shared) > bucketBatch/2 {
		// Every bucket is matched against every shared companion anyway
		// (the controls' own cost); one batch does that once.
		return ev.batch(idx, only, nil)
	}
	seen := map[[4]string]bool{}
	var b []int
	for n, key := range order {
		b = append(b, groups[key]...)
		if len(b)+len(shared) >= bucketBatch || n == len(order)-1 {
			if err := ev.batch(append(b, shared...), only, seen); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	if len(order) == 0 {
		return ev.batch(shared, only, seen)
	}
	return nil
}

// batch evaluates the controls only over the resources idx and adds what
// they find, located at their resources; seen, when set, drops a result
// found before.
func (ev *evaluator) batch(idx []int, only func(controls.Control) bool, seen map[[4]string]bool) error {
	rs := make([]Resource, len(idx))
	plain := make([]controls.Resource, len(idx))
	where := make(map[[2]string]int, 2*len(idx))
	for n, i := range idx {
		r, err := ev.src.resource(i)
		if err != nil {
			return err
		}
		rs[n], plain[n] = r, r.Resource
		where[[2]string{r.Type, r.ID}] = n
		where[[2]string{"", r.ID}] = n
	}
	vs, err := ev.engine.Evaluate(ev.ctx, plain, only)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if seen != nil {
			k := [4]string{v.ControlID, v.Type, v.ResourceID, v.Message}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		c := ev.byID[v.ControlID]
		res := Result{ControlID: v.ControlID, Title: c.Title, Severity: v.Severity, Resource: v.ResourceID,
			Type: v.Type, File: ev.file, Message: v.Message, Remediation: c.Remediation, Frameworks: c.Frameworks}
		n, ok := where[[2]string{v.Type, v.ResourceID}]
		if !ok {
			n, ok = where[[2]string{"", v.ResourceID}]
		}
		if ok {
			res.Line = rs[n].Line
			if res.Type == "" {
				res.Type = rs[n].Type
			}
		}
		ev.found = append(ev.found, res)
	}
	return nil
}
