package baseline

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Diff is what changed from one version of a product to another.
type Diff struct {
	Product string `json:"product"`
	From    string `json:"from"`
	To      string `json:"to"`
	// Template is a unified diff of the templates (empty when equal).
	Template             string       `json:"template"`
	ControlsAdded        []ControlRef `json:"controls_added"`
	ControlsRemoved      []ControlRef `json:"controls_removed"`
	ControlsChanged      []ControlRef `json:"controls_changed"`
	NotificationsAdded   []string     `json:"notifications_added"`
	NotificationsRemoved []string     `json:"notifications_removed"`
	Changelog            string       `json:"changelog"`
}

// Diff compares two releases of product.
func (s *Service) Diff(ctx context.Context, product, from, to string) (Diff, error) {
	if from == "" || to == "" {
		return Diff{}, fault.InvalidField("from", "name both versions: ?from=1.0.0&to=1.1.0")
	}
	a, err := s.Release(ctx, product, from)
	if err != nil {
		return Diff{}, err
	}
	b, err := s.Release(ctx, product, to)
	if err != nil {
		return Diff{}, err
	}
	return Compare(a, b), nil
}

// Compare is the diff from release a to release b.
func Compare(a, b Release) Diff {
	d := Diff{Product: b.Product, From: a.Version, To: b.Version, Changelog: b.Changelog,
		ControlsAdded: []ControlRef{}, ControlsRemoved: []ControlRef{}, ControlsChanged: []ControlRef{},
		NotificationsAdded: []string{}, NotificationsRemoved: []string{}}
	d.Template = UnifiedDiff(a.Product+"@"+a.Version, b.Product+"@"+b.Version, a.Template, b.Template)
	old := map[string]ControlRef{}
	for _, c := range a.Controls {
		old[c.ControlID] = c
	}
	for _, c := range b.Controls {
		prev, ok := old[c.ControlID]
		switch {
		case !ok:
			d.ControlsAdded = append(d.ControlsAdded, c)
		case prev.Mode != c.Mode:
			d.ControlsChanged = append(d.ControlsChanged, c)
		}
		delete(old, c.ControlID)
	}
	for _, c := range a.Controls {
		if _, gone := old[c.ControlID]; gone {
			d.ControlsRemoved = append(d.ControlsRemoved, c)
		}
	}
	names := func(r Release) []string {
		var out []string
		for _, n := range r.Notifications {
			out = append(out, n.Name)
		}
		return out
	}
	na, nb := names(a), names(b)
	for _, n := range nb {
		if !slices.Contains(na, n) {
			d.NotificationsAdded = append(d.NotificationsAdded, n)
		}
	}
	for _, n := range na {
		if !slices.Contains(nb, n) {
			d.NotificationsRemoved = append(d.NotificationsRemoved, n)
		}
	}
	return d
}

// maxDiffCells bounds the longest-common-subsequence table; templates
// beyond it are shown as wholly replaced.
const maxDiffCells = 4_000_000

// UnifiedDiff renders the line diff of a and b in the unified format
// (diff -u) with three lines of context; "" when they are equal.
func UnifiedDiff(nameA, nameB, a, b string) string {
	if a == b {
		return ""
	}
	la, lb := splitLines(a), splitLines(b)
	type op struct {
		kind byte // ' ', '-', '+'
		line string
	}
	var ops []op
	// Common prefix and suffix first: most versions change a few lines.
	pre := 0
	for pre < len(la) && pre < len(lb) && la[pre] == lb[pre] {
		pre++
	}
	suf := 0
	for suf < len(la)-pre && suf < len(lb)-pre && la[len(la)-1-suf] == lb[len(lb)-1-suf] {
		suf++
	}
	for _, l := range la[:pre] {
		ops = append(ops, op{' ', l})
	}
	ma, mb := la[pre:len(la)-suf], lb[pre:len(lb)-suf]
	if (len(ma)+1)*(len(mb)+1) > maxDiffCells {
		for _, l := range ma {
			ops = append(ops, op{'-', l})
		}
		for _, l := range mb {
			ops = append(ops, op{'+', l})
		}
	} else {
		// lcs[i][j]: the longest common subsequence of ma[i:] and mb[j:].
		w := len(mb) + 1
		lcs := make([]int32, (len(ma)+1)*w)
		for i := len(ma) - 1; i >= 0; i-- {
			for j := len(mb) - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
				} else {
					lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(ma) || j < len(mb) {
			switch {
			case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
				ops = append(ops, op{' ', ma[i]})
				i, j = i+1, j+1
			case i < len(ma) && (j == len(mb) || lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
				ops = append(ops, op{'-', ma[i]}) // deletions first, as diff -u writes them
				i++
			default:
				ops = append(ops, op{'+', mb[j]})
				j++
			}
		}
	}
	for _, l := range la[len(la)-suf:] {
		ops = append(ops, op{' ', l})
	}
	const context = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	// Walk the ops, emitting hunks around changes.
	lineA, lineB := make([]int, len(ops)+1), make([]int, len(ops)+1)
	for k, o := range ops {
		lineA[k+1], lineB[k+1] = lineA[k], lineB[k]
		if o.kind != '+' {
			lineA[k+1]++
		}
		if o.kind != '-' {
			lineB[k+1]++
		}
	}
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(0, k-context)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			// A run of context longer than twice the context ends the hunk.
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*context {
				end = min(end+context, len(ops))
				break
			}
			end = run
		}
		countA, countB := lineA[end]-lineA[start], lineB[end]-lineB[start]
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(lineA[start], countA), hunkRange(lineB[start], countB))
		for _, o := range ops[start:end] {
			out.WriteByte(o.kind)
			out.WriteString(o.line)
			out.WriteByte('\n')
		}
		k = end
	}
	return out.String()
}

func hunkRange(start, count int) string {
	if count == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if count == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, count)
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
