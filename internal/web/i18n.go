package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// lang is a language the console speaks.
type lang string

const (
	ja lang = "ja"
	en lang = "en"
)

// languages lists the console's languages, the default first: the console
// serves Japanese public bodies, so Japanese unless asked otherwise.
var languages = []lang{ja, en}

// langCookie remembers an explicit choice of language.
const langCookie = "lang"

//go:embed i18n/*.json
var catalogueFS embed.FS

// catalogue maps a message key to its text in one language.
type catalogue map[string]string

func loadCatalogues() (map[lang]catalogue, error) {
	out := map[lang]catalogue{}
	for _, l := range languages {
		b, err := catalogueFS.ReadFile("i18n/" + string(l) + ".json")
		if err != nil {
			return nil, fmt.Errorf("web: catalogue %s: %w", l, err)
		}
		var cat catalogue
		if err := json.Unmarshal(b, &cat); err != nil {
			return nil, fmt.Errorf("web: catalogue %s: %w", l, err)
		}
		out[l] = cat
	}
	return out, nil
}

func parseLang(s string) (lang, bool) {
	for _, l := range languages {
		if strings.EqualFold(s, string(l)) {
			return l, true
		}
	}
	return "", false
}

func otherLang(l lang) lang {
	if l == ja {
		return en
	}
	return ja
}

// langOf picks the language of a response: an explicit ?lang=, then the
// remembered choice, then the browser's Accept-Language, then Japanese.
func langOf(r *http.Request) lang {
	if l, ok := parseLang(r.URL.Query().Get("lang")); ok {
		return l
	}
	if ck, err := r.Cookie(langCookie); err == nil {
		if l, ok := parseLang(ck.Value); ok {
			return l
		}
	}
	if l, ok := fromAcceptLanguage(r.Header.Get("Accept-Language")); ok {
		return l
	}
	return languages[0]
}

// fromAcceptLanguage returns the supported language the header weighs
// highest (RFC 9110 §12.5.4); the first listed wins a tie.
func fromAcceptLanguage(header string) (lang, bool) {
	var best lang
	bestQ := 0.0
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f < 0 || f > 1 {
					f = 0 // a malformed weight counts as "not acceptable"
				}
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.TrimSpace(tag), "-")
		if l, ok := parseLang(primary); ok && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best, bestQ > 0
}

// pagePath is the address of the page being drawn: the request's path, or
// for the answer to a form the page the form was on (its "from" field), so
// that the answer's links and forms behave as the page's own.
func pagePath(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.Path
	}
	// PostForm, not PostFormValue: a page drawn for a refused request must
	// not read a body the guard chose not to.
	if from, ok := localPath(r.PostForm.Get("from")); ok {
		return from
	}
	return "/"
}

// switchTarget is the address a language switch loads: this page in
// language l.
func switchTarget(r *http.Request, l lang) string {
	query := url.Values{}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		query = r.URL.Query()
	}
	query.Set("lang", string(l))
	return pagePath(r) + "?" + query.Encode()
}

// localPath accepts a path on this server, never another origin, so a
// form's "from" cannot send the browser elsewhere.
func localPath(p string) (string, bool) {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, `/\`) {
		return "", false
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "", false
	}
	return u.Path, true
}

// safeNext accepts where to go after signing in: a path on this site, with
// its query, and never another origin ("//host", `/\host`, "https://…"),
// so a crafted sign-in link cannot send the browser elsewhere. The sign-in
// pages themselves are not a destination.
func safeNext(p string) (string, bool) {
	if p == "" || len(p) > 2000 || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, `/\`) {
		return "", false
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "", false
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	if u.Path == "/login" || strings.HasPrefix(u.Path, "/login/") || u.Path == "/logout" {
		return "/", true
	}
	return u.RequestURI(), true
}

// notices are the confirmations an action's redirect may ask for about an
// environment (?notice=…&env=…).
var notices = map[string]bool{"approved": true, "rejected": true, "retried": true, "transferred": true, "closing": true}

// plainNotices are the confirmations that name nothing (?notice=…).
var plainNotices = map[string]bool{"signed_out": true, "key_removed": true,
	"people_assigned": true, "people_removed": true,
	"access_filed": true, "access_approved": true, "access_denied": true, "access_revoked": true, "access_withdrawn": true,
	"person_disabled": true, "person_enabled": true,
	"keys_sealed": true, "key_created": true, "key_changed": true, "keys_killed": true, "keys_revived": true, "xks_revoked": true,
	"key_owner_granted": true, "key_owner_revoked": true,
	"control_assigned": true, "control_promoted": true, "control_unassigned": true,
	"placement_changed":   true,
	"exception_requested": true, "exception_approved": true, "exception_rejected": true,
	"posture_collected": true, "posture_no_collector": true,
	"notify_test_queued": true, "notify_retry_queued": true, "notify_acknowledged": true, "notify_fixed": true}

// notice is the confirmation the address asks for, or "". Only known
// notices about well-formed ids are shown, so a crafted link cannot put
// arbitrary text on the page.
func (c *Console) notice(r *http.Request, l lang) string {
	q := r.URL.Query()
	n, id := q.Get("notice"), q.Get("env")
	if plainNotices[n] {
		return c.catalogues[l]["notice."+n]
	}
	if !notices[n] || !env.ValidID(id) {
		return ""
	}
	return fmt.Sprintf(c.catalogues[l]["notice."+n], id)
}

// jst is Japan Standard Time; Japan keeps no daylight saving time, so a
// fixed zone is exact and needs no time-zone database.
var jst = time.FixedZone("JST", 9*60*60)

// funcs are the template functions of language l.
func (c *Console) funcs(l lang) template.FuncMap {
	cat := c.catalogues[l]
	t := func(key string) string {
		if s, ok := cat[key]; ok {
			return s
		}
		c.log.Warn("console: message missing from catalogue", "lang", l, "key", key)
		return key
	}
	return template.FuncMap{
		"t": t,
		"tf": func(key string, args ...any) string {
			return fmt.Sprintf(t(key), args...)
		},
		// label names a domain value (a state, a kind, a step): its
		// catalogue entry, or the value itself for one added to the domain
		// after the catalogue.
		"label": func(prefix string, value any) string {
			v := fmt.Sprint(value)
			if s, ok := cat[prefix+"."+v]; ok {
				return s
			}
			return v
		},
		"orgName": func(o org.Organization) string {
			if l == en && o.NameEn != "" {
				return o.NameEn
			}
			return o.NameJa
		},
		// orgAltName is the second name shown beside orgName: the reading
		// in kana for Japanese readers, the Japanese name for English ones.
		"orgAltName": func(o org.Organization) string {
			if l == en {
				if o.NameEn == "" {
					return "" // orgName already showed the Japanese name
				}
				return o.NameJa
			}
			return o.NameKana
		},
		"actions": func(e env.Environment, csrf, from string, fe *formError, can envActions) actionForms {
			return actionForms{Env: e, CSRF: csrf, From: from, Error: fe, Can: can}
		},
		// roleName names a role, as the catalogue does.
		"roleName": func(r authz.Role) string {
			if s, ok := cat["role."+string(r)]; ok {
				return s
			}
			return string(r)
		},
		// duration names a length of time in the page's language, in hours
		// and minutes (break-glass grants are minutes to a day).
		"duration": func(d time.Duration) string {
			h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
			var parts []string
			if h > 0 {
				parts = append(parts, fmt.Sprintf(t("duration.hours"), h))
			}
			if m > 0 || h == 0 {
				parts = append(parts, fmt.Sprintf(t("duration.minutes"), m))
			}
			sep := " "
			if l == ja {
				sep = ""
			}
			return strings.Join(parts, sep)
		},
		// text is a control's text in the page's language (Japanese when
		// the catalog has no English).
		"text": func(tx controls.Text) string {
			if l == en && tx.En != "" {
				return tx.En
			}
			return tx.Ja
		},
		// seconds names a short length of time (a restore's RTO) in
		// seconds, to the millisecond.
		"seconds": func(d time.Duration) string {
			return fmt.Sprintf(t("duration.seconds"), strconv.FormatFloat(d.Seconds(), 'f', 3, 64))
		},
		// size names a number of bytes in binary units (a backup's size).
		"size": func(n int64) string {
			switch {
			case n >= 1<<30:
				return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
			case n >= 1<<20:
				return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
			case n >= 1<<10:
				return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
			}
			return strconv.FormatInt(n, 10) + " B"
		},
		// tn is tf of a count n: the catalogue's KEY.one when n is 1 (in
		// Japanese the same words), else KEY.
		"tn": func(key string, n int, args ...any) string {
			if s, ok := cat[key+".one"]; ok && n == 1 {
				return fmt.Sprintf(s, append([]any{n}, args...)...)
			}
			return fmt.Sprintf(t(key), append([]any{n}, args...)...)
		},
		// sysText and eventText say what the engine wrote in the page's
		// language (systemtext.go).
		"sysText":   func(msg string) template.HTML { return c.systemText(l, msg) },
		"eventText": func(kind, msg string) template.HTML { return c.eventText(l, kind, msg) },
		"who":       func(recorded string) template.HTML { return c.who(l, recorded) },
		// findingText says a finding's message in the page's language.
		"findingText": func(f posture.Finding, ct controls.Control) template.HTML { return findingText(l, f, ct) },
		// tfHTML puts markup the template itself holds (a command in
		// <code>) into an escaped catalogue text.
		"tfHTML": func(key string, markup template.HTML) template.HTML {
			return template.HTML(fmt.Sprintf(template.HTMLEscapeString(t(key)), markup)) //nolint:gosec // G203: the text is escaped; markup is the template's own
		},
		"chartTable": newChartTable,
		"errorCount": errorCount,
		"byControl": func(rows []controlRow, envs bool) map[string]any {
			return map[string]any{"Rows": rows, "Envs": envs}
		},
		"oneSeries": func(key, label string, values []float64) []series {
			return []series{{Key: key, Label: label, Values: values}}
		},
		"measureValue": func(m measure, a mapArea) string {
			v, _, _ := m.value(a)
			return v
		},
		"list":       func(s []string) string { return strings.Join(s, cat["list.separator"]) },
		"percent":    func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + "%" },
		"datetime":   func(t time.Time) string { return t.In(jst).Format("2006-01-02 15:04:05") },
		"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"has":        func(xs []string, x string) bool { return slices.Contains(xs, x) },
		"static":     func(name string) string { return "/static/" + name + "?v=" + c.staticVersion },
		"webauthnJS": func() string { return "/static/webauthn.js?v=" + mfa.ScriptVersion() },
		"isFinal":    isFinal,
		"join": func(states []env.State) string {
			s := make([]string, len(states))
			for i, st := range states {
				s[i] = string(st)
			}
			return strings.Join(s, " ")
		},
		// liveLabels are the texts live.js needs to relabel a changed state.
		"liveLabels": func() map[string]string {
			out := map[string]string{}
			for k, v := range cat {
				if strings.HasPrefix(k, "state.") || strings.HasPrefix(k, "stepstate.") {
					out[k] = v
				}
			}
			return out
		},
	}
}
