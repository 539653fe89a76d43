package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/org"
)

// A listing's query parameters are checked before anything is read: a
// cursor this server did not hand out, an id of no possible organisation
// or environment, a parameter the listing does not take (a typo such as
// ?org=) would otherwise filter nothing or match nothing and answer 200
// with a wrong list. Each is 400 with the parameter's name in field.

// param is one query parameter a listing takes; check, when set, says
// what is wrong with a value ("" when nothing).
type param struct {
	name  string
	check func(string) string
}

func anyText(name string) param { return param{name: name} }

func limitUpTo(max int) param {
	return param{"limit", func(v string) string {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > max {
			return fmt.Sprintf("must be a whole number from 1 to %d", max)
		}
		return ""
	}}
}

func oneOf[T ~string](name string, values ...T) param {
	return param{name, func(v string) string {
		if !slices.Contains(values, T(v)) {
			s := make([]string, len(values))
			for i, x := range values {
				s[i] = string(x)
			}
			return "must be one of " + strings.Join(s, ", ")
		}
		return ""
	}}
}

func orgIDParam(name string) param {
	return param{name, func(v string) string {
		if !org.ValidID(v) {
			return `is not an organisation id (like lg-131016, nat-digital or qp-example)`
		}
		return ""
	}}
}

var (
	envCursor = param{"cursor", func(v string) string {
		if !env.ValidID(v) {
			return "is not one this server returned; start again without a cursor"
		}
		return ""
	}}
	orgCursor = param{"cursor", func(v string) string {
		if !org.ValidCursor(v) {
			return "is not one this server returned; start again without a cursor"
		}
		return ""
	}}
	rfc3339 = func(name string) param {
		return param{name, func(v string) string {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				return "must be an RFC 3339 time like 2026-11-25T09:00:00Z"
			}
			return ""
		}}
	}
	wholeNumber = func(name string) param {
		return param{name, func(v string) string {
			if _, err := strconv.ParseUint(v, 10, 64); err != nil {
				return "must be a whole number"
			}
			return ""
		}}
	}
)

// queryOK checks r's query against the parameters a listing takes; on the
// first it cannot use it writes 400 naming the parameter and returns false.
func queryOK(w http.ResponseWriter, r *http.Request, params ...param) bool {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeProblem(w, Problem{Type: "https://hatoba.dev/problems/bad-request", Title: "Bad Request", Status: http.StatusBadRequest,
			Detail: "the query string is not valid: " + err.Error(), Instance: r.URL.Path})
		return false
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names) // the first bad one in a stable order
	for _, name := range names {
		if msg := checkParam(name, q[name], params); msg != "" {
			writeProblem(w, Problem{Type: "https://hatoba.dev/problems/bad-request", Title: "Bad Request", Status: http.StatusBadRequest,
				Detail: msg, Instance: r.URL.Path, Field: name})
			return false
		}
	}
	return true
}

func checkParam(name string, values []string, params []param) string {
	i := slices.IndexFunc(params, func(p param) bool { return p.name == name })
	if i < 0 {
		if len(params) == 0 {
			return fmt.Sprintf("this listing takes no query parameters, and %s is not one", strconv.QuoteToASCII(name))
		}
		takes := make([]string, len(params))
		for j, p := range params {
			takes[j] = p.name
		}
		return fmt.Sprintf("%s is not a parameter of this listing; it takes %s", strconv.QuoteToASCII(name), strings.Join(takes, ", "))
	}
	if len(values) > 1 {
		return fmt.Sprintf("%s is given %d times; give it once", name, len(values))
	}
	v := values[0]
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
		return fmt.Sprintf("%s holds invalid UTF-8, a control or an invisible format character", name)
	}
	if check := params[i].check; check != nil && v != "" {
		if msg := check(v); msg != "" {
			return fmt.Sprintf("%s %s, not %s", name, msg, strconv.QuoteToASCII(v))
		}
	}
	return ""
}

// The listings' parameters, by route.
var (
	orgListParams = []param{anyText("q"), orgIDParam("parent_id"), oneOf("kind", org.Kinds...), limitUpTo(org.MaxLimit), orgCursor}
	envListParams = []param{orgIDParam("org_id"), oneOf("state", env.States...), limitUpTo(500), envCursor}
	// /approvals lists environments waiting for a decision: its state is
	// fixed.
	approvalParams = []param{orgIDParam("org_id"), limitUpTo(500), envCursor}
	findingParams  = []param{oneOf("status", "open", "all"), oneOf("format", "json", "ocsf")}
	controlParams  = []param{oneOf("kind", controls.Preventive, controls.Proactive, controls.Detective)}
	usageParams    = []param{limitUpTo(1000)}
	auditParams    = []param{orgIDParam("org_id"), rfc3339("since"), rfc3339("until"), wholeNumber("from_seq"), limitUpTo(1000)}
)
