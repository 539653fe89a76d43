package web

import (
	"fmt"
	"html/template"
	"regexp"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// What hatoba itself writes into an environment's history, state reason
// and approval notes is English (the API's and the logs' language). The
// console says it in the reader's language: each shape the vending engine
// writes is a catalogue key whose parameters are the shape's values
// (names and ids stay as they are; a state, purpose, classification or
// step is named by its label). A reason no shape matches is what a person
// typed (a rejection's reason) and is shown as entered, marked as data.

// systemMessage is one shape of a message the engine writes.
type systemMessage struct {
	re  *regexp.Regexp
	key string
	// labels names, per captured value, the catalogue prefix that names
	// it ("purpose", "classification", "step", "classifications" for a
	// space-separated list), or "" to show it as is, or "code" to show it
	// as an error text from a provider.
	labels []string
}

var systemMessages = []systemMessage{
	{regexp.MustCompile(`^within quota and classification allowed on (\S+)$`), "sys.auto_approved", []string{""}},
	{regexp.MustCompile(`^vending started$`), "sys.vending_started", nil},
	{regexp.MustCompile(`^account (\S+) is ready$`), "sys.account_ready", []string{""}},
	{regexp.MustCompile(`^account (\S+) closed$`), "sys.account_closed", []string{""}},
	{regexp.MustCompile(`^account closed$`), "sys.closed", nil},
	{regexp.MustCompile(`^retry$`), "sys.retry", nil},
	{regexp.MustCompile(`^provider account (\S+) is active$`), "sys.account_active", []string{""}},
	{regexp.MustCompile(`^account (\S+) moved to unit (.+)$`), "sys.moved", []string{"", ""}},
	{regexp.MustCompile(`^transferred from (\S+) to (\S+); moving account to unit (.+)$`), "sys.transferred", []string{"", "", ""}},
	{regexp.MustCompile(`^organisation (\S+) is at its quota: (\d+) of (\d+) live environments$`), "sys.quota", []string{"", "", ""}},
	{regexp.MustCompile(`^classification (\S+) is not allowed on provider (\S+) \(allowed: \[(.*)\]\)$`), "sys.not_allowed", []string{"classification", "", "classifications"}},
	{regexp.MustCompile(`^(\S+) (\S+) environment for "(.*)" requested on (\S+) \((\S+)\)$`), "sys.requested", []string{"", "purpose", "", "", "classification"}},
	// The placement policy (internal/placement).
	{regexp.MustCompile(`^classification (\S+) may not be placed on provider (\S+) \(tier (\S+)\): placement rule (\S+) allows tiers \[(.*)\] and providers \[(.*)\]$`), "sys.placement_rule",
		[]string{"classification", "", "tier", "", "tiers", "names"}},
	{regexp.MustCompile(`^system "(.*)" of (\S+) stays on one provider, and its other environments are elsewhere: (.+), while this one is on (\S+)$`), "sys.one_provider", []string{"", "", "", ""}},
	// Sign-in refusals (identity).
	{regexp.MustCompile(`^this card is not registered with hatoba; open the invitation link your administrator sent you while your card is in the reader$`), "sys.card_unregistered", nil},
	{regexp.MustCompile(`^this certificate's key is not the one registered for it; sign-in refused$`), "sys.key_mismatch", nil},
	{regexp.MustCompile(`^this person is (\S+) and may not sign in$`), "sys.person_state", []string{"personstate"}},
	{regexp.MustCompile(`^(create_account|wait_until_active|move_to_unit|attach_preventive_policies|assign_permission_sets|register_billing_contact|tag|ready): (.+)$`), "sys.step_failed", []string{"step", "code"}},
}

// systemText renders one message the engine wrote, or the text as data.
func (c *Console) systemText(l lang, msg string) template.HTML {
	cat := c.catalogues[l]
	if whole := c.systemOne(cat, msg); !strings.HasPrefix(whole, "<span data-data>") {
		return template.HTML(whole) //nolint:gosec // G203: systemOne escapes the catalogue's text and every argument
	}
	var parts []string
	// Approval notes join their reasons with "; ".
	for _, one := range strings.Split(msg, "; ") {
		parts = append(parts, c.systemOne(cat, one))
	}
	return template.HTML(strings.Join(parts, template.HTMLEscapeString(cat["sys.separator"]))) //nolint:gosec // G203: each part is systemOne's, escaped
}

func (c *Console) systemOne(cat catalogue, msg string) string {
	for _, sm := range systemMessages {
		m := sm.re.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		args := make([]any, len(m)-1)
		for i, v := range m[1:] {
			switch sm.labels[i] {
			case "":
				args[i] = template.HTMLEscapeString(v)
			case "code":
				args[i] = `<code lang="en">` + template.HTMLEscapeString(v) + `</code>`
			case "classifications", "tiers", "names":
				var names []string
				for _, x := range strings.Fields(v) {
					names = append(names, labelOf(cat, strings.TrimSuffix(sm.labels[i], "s"), x))
				}
				if len(names) == 0 {
					names = []string{cat["providers.none"]}
				}
				args[i] = template.HTMLEscapeString(strings.Join(names, cat["list.separator"]))
			default:
				args[i] = template.HTMLEscapeString(labelOf(cat, sm.labels[i], v))
			}
		}
		// The catalogue's text is escaped; the arguments are, above.
		return fmt.Sprintf(template.HTMLEscapeString(cat[sm.key]), args...)
	}
	return `<span data-data>` + template.HTMLEscapeString(msg) + `</span>`
}

func labelOf(cat catalogue, prefix, v string) string {
	if s, ok := cat[prefix+"."+v]; ok {
		return s
	}
	return v
}

// eventText is an event of an environment's history in the reader's
// language: a change of state is "STATE" or "STATE: reason".
func (c *Console) eventText(l lang, kind, msg string) template.HTML {
	for _, st := range env.States {
		if string(st) != kind || st == env.Requested {
			continue
		}
		if reason, ok := strings.CutPrefix(msg, kind+": "); ok {
			return c.systemText(l, reason)
		}
		if msg == kind {
			return template.HTML(template.HTMLEscapeString(fmt.Sprintf(c.catalogues[l]["sys.state"], c.catalogues[l]["state."+kind]))) //nolint:gosec // G203: escaped
		}
	}
	return c.systemText(l, msg)
}

// findingText is a finding's message in the reader's language, without
// the resource's id (the resource has its own column): in Japanese the
// translation of its format from the control's messages, else the
// English, marked as English data (a custom control without a
// translation, a row the control has changed since); its parameters are
// data in either language, shown as they are.
func findingText(l lang, f posture.Finding, c controls.Control) template.HTML {
	if l == ja {
		if tr, ok := c.Japanese(f.MessageFormat); ok {
			if h, ok := messageHTML(tr, f.MessageParams); ok {
				return h
			}
		}
	}
	h, ok := messageHTML(f.MessageFormat, f.MessageParams)
	if !ok || f.MessageFormat == "" {
		h = template.HTML(template.HTMLEscapeString(f.Message)) //nolint:gosec // G203: escaped
	}
	if l == ja {
		return `<span lang="en" data-data>` + h + `</span>`
	}
	return h
}

// messageHTML renders a message format with its parameters, the format's
// text escaped and each parameter, escaped, marked as data.
func messageHTML(format string, params controls.Params) (template.HTML, bool) {
	parts, ok := controls.RenderParts(format, params)
	if !ok {
		return "", false
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Param {
			b.WriteString(`<span data-data>` + template.HTMLEscapeString(p.Text) + `</span>`)
		} else {
			b.WriteString(template.HTMLEscapeString(p.Text))
		}
	}
	return template.HTML(b.String()), true //nolint:gosec // G203: every piece is escaped
}
