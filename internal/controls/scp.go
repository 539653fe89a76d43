package controls

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// The limits AWS Organizations puts on service control policies.
const (
	// SCPMaxChars is the most characters one SCP document may hold, as
	// sent (whitespace counts).
	SCPMaxChars = 5120
	// SCPMaxDescription is the most characters of a policy's description.
	SCPMaxDescription = 512
	// SCPMaxPerTarget is how many SCPs one account or unit may have
	// attached, AWS's FullAWSAccess included.
	SCPMaxPerTarget = 5
	// DefaultMaxSCPs is how many documents RenderSCPs may use unless told
	// otherwise: every slot but FullAWSAccess's.
	DefaultMaxSCPs = SCPMaxPerTarget - 1
)

// SCPOptions tunes RenderSCPs.
type SCPOptions struct {
	// MaxPolicies is how many documents the controls may take: the slots
	// per target less those of FullAWSAccess and the organisation's own
	// policies. Zero means DefaultMaxSCPs.
	MaxPolicies int
	// MaxChars is the most characters of one document. Zero means
	// SCPMaxChars; tests set less.
	MaxChars int
	// NamePrefix begins every policy's name. Empty means
	// "hatoba-preventive".
	NamePrefix string
}

// RenderedPolicy is one service control policy made of preventive
// controls' statements; Name, Description and Document are what
// provider.Policy holds.
type RenderedPolicy struct {
	Name        string
	Description string
	Document    string
	// Controls are the ids of the controls whose statements it carries,
	// sorted.
	Controls []string
}

// SCPFitError is the refusal to render controls that do not fit the
// limits. It is a conflict: the controls cannot all be enforced on one
// target as they are.
type SCPFitError struct {
	// Controls are the controls left out, sorted.
	Controls []string
	Reason   string
}

func (e *SCPFitError) Error() string {
	return "preventive controls " + strings.Join(e.Controls, ", ") + " cannot be rendered: " + e.Reason
}

// Unwrap makes the error a fault.Conflict for callers that sort by kind.
func (e *SCPFitError) Unwrap() error { return &fault.Error{Kind: fault.Conflict, Message: e.Error()} }

const scpHead, scpTail = `{"Version":"2012-10-17","Statement":[`, `]}`

type scpStatement struct {
	sid     string
	control string
	json    string
	chars   int
}

type scpDoc struct {
	stmts []scpStatement
	chars int
}

// RenderSCPs renders the AWS SCP statements of cs — the preventive
// controls enforced on one target; the caller selects them — into as few
// documents as the limits allow. Each statement gets a Sid made of its
// control's id in CamelCase, with S1, S2… in the control's order when it
// has more than one (IAM allows only [A-Za-z0-9]; the catalog's own Sids
// are replaced, so that a denial traces back to a control);
// statements are serialised without whitespace and packed first-fit
// decreasing by size, each document's statements sorted by Sid. The same
// controls in any order give byte-identical output. Controls without SCP
// statements are skipped. A statement too large for a document on its own,
// or more documents than MaxPolicies, is an *SCPFitError naming the
// controls left out: nothing is dropped silently.
func RenderSCPs(cs []Control, opts SCPOptions) ([]RenderedPolicy, error) {
	if opts.MaxPolicies <= 0 {
		opts.MaxPolicies = DefaultMaxSCPs
	}
	if opts.MaxChars <= 0 {
		opts.MaxChars = SCPMaxChars
	}
	if opts.NamePrefix == "" {
		opts.NamePrefix = "hatoba-preventive"
	}
	sorted := make([]Control, 0, len(cs))
	seen := map[string]bool{}
	for _, c := range cs {
		if !seen[c.ID] && len(c.Preventive.AWSSCP) > 0 {
			seen[c.ID] = true
			sorted = append(sorted, c)
		}
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })

	var stmts []scpStatement
	sids := map[string]bool{}
	for _, c := range sorted {
		for i, st := range c.Preventive.AWSSCP {
			base := scpCamel(c.ID)
			if len(c.Preventive.AWSSCP) > 1 {
				base += "S" + strconv.Itoa(i+1)
			}
			sid := base
			for n := 2; sids[sid]; n++ {
				sid = base + "N" + strconv.Itoa(n)
			}
			sids[sid] = true
			out := make(map[string]any, len(st)+1)
			for k, v := range st {
				out[k] = v
			}
			out["Sid"] = sid
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(out); err != nil {
				return nil, fault.Invalidf("control %s: statement %d is not JSON: %v", c.ID, i+1, err)
			}
			js := strings.TrimSuffix(b.String(), "\n")
			stmts = append(stmts, scpStatement{sid: sid, control: c.ID, json: js, chars: utf8.RuneCountInString(js)})
		}
	}
	if len(stmts) == 0 {
		return nil, nil
	}

	// First-fit decreasing: the largest statements first, each into the
	// first document with room for it.
	sort.SliceStable(stmts, func(i, j int) bool {
		if stmts[i].chars != stmts[j].chars {
			return stmts[i].chars > stmts[j].chars
		}
		return stmts[i].sid < stmts[j].sid
	})
	empty := utf8.RuneCountInString(scpHead + scpTail)
	var docs []*scpDoc
	tooBig := map[string]bool{}
	for _, st := range stmts {
		if empty+st.chars > opts.MaxChars {
			tooBig[st.control] = true
			continue
		}
		placed := false
		for _, d := range docs {
			if d.chars+1+st.chars <= opts.MaxChars {
				d.stmts, d.chars, placed = append(d.stmts, st), d.chars+1+st.chars, true
				break
			}
		}
		if !placed {
			docs = append(docs, &scpDoc{stmts: []scpStatement{st}, chars: empty + st.chars})
		}
	}
	if len(tooBig) > 0 {
		return nil, &SCPFitError{Controls: scpKeys(tooBig),
			Reason: fmt.Sprintf("a statement of each is longer than a service control policy may be (%d characters with the document's frame)", opts.MaxChars)}
	}
	if len(docs) > opts.MaxPolicies {
		left := map[string]bool{}
		for _, d := range docs[opts.MaxPolicies:] {
			for _, st := range d.stmts {
				left[st.control] = true
			}
		}
		return nil, &SCPFitError{Controls: scpKeys(left),
			Reason: fmt.Sprintf("the enforced controls need %d service control policies of at most %d characters and only %d may be attached",
				len(docs), opts.MaxChars, opts.MaxPolicies)}
	}

	out := make([]RenderedPolicy, len(docs))
	for i, d := range docs {
		sort.Slice(d.stmts, func(a, b int) bool { return d.stmts[a].sid < d.stmts[b].sid })
		parts := make([]string, len(d.stmts))
		ids := map[string]bool{}
		for j, st := range d.stmts {
			parts[j] = st.json
			ids[st.control] = true
		}
		doc := scpHead + strings.Join(parts, ",") + scpTail
		sum := sha256.Sum256([]byte(doc))
		p := RenderedPolicy{Document: doc, Controls: scpKeys(ids)}
		// The name carries a digest of the document: SCPs are named
		// organisation-wide, targets differ in what they enforce, and a
		// policy found by name must be the one rendered.
		p.Name = fmt.Sprintf("%s-%d-%s", opts.NamePrefix, i+1, hex.EncodeToString(sum[:])[:12])
		p.Description = scpDescribe(p.Controls)
		out[i] = p
	}
	return out, nil
}

// scpDescribe lists the controls, cut to SCPMaxDescription with a count of
// those left off.
func scpDescribe(ids []string) string {
	const head = "hatoba preventive controls: "
	full := head + strings.Join(ids, ", ")
	if utf8.RuneCountInString(full) <= SCPMaxDescription {
		return full
	}
	for n := len(ids) - 1; n >= 0; n-- {
		s := head + strings.Join(ids[:n], ", ") + fmt.Sprintf(" and %d more", len(ids)-n)
		if utf8.RuneCountInString(s) <= SCPMaxDescription {
			return s
		}
	}
	return fmt.Sprintf("hatoba preventive controls: %d", len(ids))
}

// scpCamel turns "aws-s3-no-public-acl" into "AwsS3NoPublicAcl".
func scpCamel(id string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(id, func(r rune) bool { return !scpIsAlnum(r) }) {
		r, n := utf8.DecodeRuneInString(w)
		b.WriteRune(unicode.ToUpper(r))
		b.WriteString(w[n:])
	}
	return b.String()
}

func scpIsAlnum(r rune) bool { return r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) }

func scpKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
