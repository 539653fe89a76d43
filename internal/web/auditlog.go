package web

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// The audit view (/audit): the entries of the caller's scope — an auditor
// all of them, a tenant its subtree's, an operator the platform's own —
// as the API's /api/v1/audit/entries selects them, a page at a time.
//
// Every page is verified before it is shown: the server fetches the page
// as a bundle (the entries, an inclusion proof for each and the latest
// signed checkpoint) and checks it with the log's public key, as
// `hatoba audit check-bundle` does offline. That check runs on the server
// being checked, so it is not independent: it catches a database changed
// behind the server's back, not a server that lies. The page says so, and
// offers the same bundle for download with the key to check it elsewhere.

// auditPerPage is the page size of /audit.
const auditPerPage = 50

// auditWindow is how far back the view reaches when no time is given.
const auditWindow = 24 * time.Hour

// datetimeLocal is the format of <input type="datetime-local">; the
// console reads and shows it in Japan Standard Time.
const datetimeLocal = "2006-01-02T15:04"

// auditPage is the data of /audit.
type auditPage struct {
	// Since and Until are the filter as the form shows it (JST).
	Since, Until string
	Errors       map[string]string
	// Scope says whose entries these are: "all", "tenant" or "platform".
	Scope   string
	Rows    []auditRow
	FromSeq uint64
	// Next is the address of the next page; empty on the last.
	Next   string
	First  string
	Verify auditVerification
	// BundleHref downloads this page as a bundle (empty when the page is);
	// KeyHref is the log's key and latest checkpoint as JSON.
	BundleHref  string
	KeyHref     string
	VerifierKey string
	// ExportHref is the auditors' JSON Lines export of the filter.
	ExportHref string
}

// auditRow is an entry with its actor's name and links.
type auditRow struct {
	audit.Record
	Actor actorRef
	// System: the entry is the platform's own doing, not a person's.
	System     bool
	TargetHref string
	GrantHref  string
}

// auditVerification is what checking the page's bundle said.
type auditVerification struct {
	OK bool
	// Size and Root are the checkpoint's tree size and root (base64, as
	// in the checkpoint's text).
	Size uint64
	Root string
	// Problem is why the bundle did not verify.
	Problem string
}

// parseLocal reads a datetime-local value as Japan time.
func parseLocal(v string) (time.Time, error) {
	for _, layout := range []string{datetimeLocal, datetimeLocal + ":05"} {
		if t, err := time.ParseInLocation(layout, v, jst); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fault.Invalidf("%q is not a date and time like 2026-11-25T09:00", v)
}

// auditScope turns the caller's scope into the log's filter, as the API's
// auditFilter does.
func (c *Console) auditScope(r *http.Request) (audit.Filter, string, error) {
	sc := c.api.Authz.ScopeOf(me(r).principal, authz.ReadAudit)
	if sc.All {
		return audit.Filter{AllOrgs: true}, "all", nil
	}
	ids, err := c.api.Orgs.SubtreeIDs(r.Context(), sc.Roots)
	if err != nil {
		return audit.Filter{}, "", err
	}
	scope := "tenant"
	if sc.Platform {
		// Operators see the platform's own entries: those of no
		// organisation.
		ids = append(ids, "")
		if len(sc.Roots) == 0 {
			scope = "platform"
		}
	}
	if len(ids) == 0 {
		return audit.Filter{}, "", fault.Forbiddenf("no organisation's audit entries are in your scope")
	}
	return audit.Filter{OrgIDs: ids}, scope, nil
}

func (c *Console) auditLog(w http.ResponseWriter, r *http.Request) {
	if c.api.Audit == nil || c.api.AuditVerifierKey == "" {
		c.fail(w, r, &fault.Error{Kind: fault.Unavailable, Message: "the audit log is not configured on this server"})
		return
	}
	ctx := r.Context()
	f, scope, err := c.auditScope(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	p := auditPage{Scope: scope, Errors: map[string]string{}, VerifierKey: c.api.AuditVerifierKey, KeyHref: "/api/v1/audit/key"}
	now := c.now()
	// Without a "since" the view shows the last day; an empty one, sent by
	// the form, means from the beginning.
	p.Since = now.Add(-auditWindow).In(jst).Format(datetimeLocal)
	if _, given := q["since"]; given {
		p.Since = strings.TrimSpace(q.Get("since"))
	}
	p.Until = strings.TrimSpace(q.Get("until"))
	for _, tf := range []struct {
		field string
		value string
		dst   *time.Time
	}{{"since", p.Since, &f.Since}, {"until", p.Until, &f.Until}} {
		if tf.value == "" {
			continue
		}
		t, err := parseLocal(tf.value)
		if err != nil {
			p.Errors[tf.field] = messageOf(err)
			continue
		}
		*tf.dst = t
	}
	if v := q.Get("from"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			p.Errors["from"] = messageOf(fault.Invalidf("from must be a whole number, not %q", v))
		}
		f.FromSeq = n
	}
	if len(p.Errors) > 0 {
		c.render(w, r, http.StatusBadRequest, "audit", "audit", p)
		return
	}
	f.Limit = auditPerPage
	p.FromSeq = f.FromSeq
	b, err := c.api.Audit.Bundle(ctx, f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p.Verify = c.verifyPage(b)

	names := c.nameBook(r)
	for _, e := range b.Entries {
		// "system", or "system:<part>" for the command line's own changes.
		row := auditRow{Record: e.Record, System: e.Actor == "system" || strings.HasPrefix(e.Actor, "system:")}
		if !row.System {
			if row.Actor, err = names.actor(e.Actor); err != nil {
				c.fail(w, r, err)
				return
			}
		}
		row.TargetHref = targetHref(e.Target)
		if strings.HasPrefix(e.GrantID, "bg-") {
			row.GrantHref = accessPath(e.GrantID)
		}
		p.Rows = append(p.Rows, row)
	}

	// Links keep the filter; the API's keep it in the API's form.
	page := url.Values{"since": {p.Since}}
	if p.Until != "" {
		page.Set("until", p.Until)
	}
	if p.FromSeq > 0 {
		p.First = "/audit?" + page.Encode()
	}
	if n := len(b.Entries); n == auditPerPage {
		next := url.Values{}
		for k, v := range page {
			next[k] = v
		}
		next.Set("from", strconv.FormatUint(b.Entries[n-1].Seq+1, 10))
		p.Next = "/audit?" + next.Encode()
	}
	api := url.Values{}
	for name, t := range map[string]time.Time{"since": f.Since, "until": f.Until} {
		if !t.IsZero() {
			api.Set(name, t.UTC().Format(time.RFC3339))
		}
	}
	export := url.Values{}
	for k, v := range api {
		export[k] = v
	}
	if n := len(b.Entries); n > 0 {
		// This page and nothing after it: entries that arrive later get
		// higher seqs, so the first n from the same seq are these.
		api.Set("limit", strconv.Itoa(n))
		api.Set("from_seq", strconv.FormatUint(f.FromSeq, 10))
		p.BundleHref = "/api/v1/audit/entries?" + api.Encode()
	}
	if me(r).principal.Role == authz.CentralAuditor {
		p.ExportHref = "/api/v1/audit/export?" + export.Encode()
	}
	c.render(w, r, http.StatusOK, "audit", "audit", p)
}

// verifyPage checks the page's bundle with the log's public key, exactly
// as a tenant would offline.
func (c *Console) verifyPage(b audit.Bundle) auditVerification {
	if err := audit.VerifyBundle(b, c.api.AuditVerifierKey); err != nil {
		c.log.Error("console: the audit page's bundle does not verify", "err", err)
		return auditVerification{Problem: err.Error()}
	}
	v, err := audit.ParseVerifierKey(c.api.AuditVerifierKey)
	if err != nil {
		return auditVerification{Problem: err.Error()}
	}
	cp, err := audit.ParseCheckpoint([]byte(b.Checkpoint), v)
	if err != nil {
		return auditVerification{Problem: err.Error()}
	}
	return auditVerification{OK: true, Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root)}
}

// targetHref links an entry's target when it names a page of the console.
func targetHref(target string) string {
	switch {
	case env.ValidID(target):
		return "/envs/" + url.PathEscape(target)
	case strings.HasPrefix(target, "bg-"):
		return accessPath(target)
	}
	return ""
}
