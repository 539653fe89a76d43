// Package web is hatoba's server-rendered console, in Japanese and English.
//
// It is a thin adapter, like the JSON API: every page reads through the same
// capabilities (the fields of api.Server) and every form acts through the
// vending engine and the identity service, so the console holds no business
// rules of its own. Who may see or do what is package authz's decision: each
// route names its action and one guard asks before any handler runs. Pages
// are html/template files and the CSS, JavaScript and message catalogues are
// embedded, so the binary serves the console without any files beside it.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
)

var (
	//go:embed templates
	templateFS embed.FS
	//go:embed static
	staticFS embed.FS
)

// Deps are what the console needs from the rest of hatoba.
type Deps struct {
	// API gives the capabilities the console reads and acts through; its
	// Identity, Authz and Certs sign people in and decide what they may do,
	// Grants (may be nil) gives their break-glass grants and PublicURL
	// starts invitation links.
	API *api.Server
	// MFA registers and checks people's security keys.
	MFA    *mfa.Service
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// KeyServiceOnly serves only the key service's pages, with signing in,
	// the security key and the account page: the console of hatoba keyd on
	// a host of its own, where API needs no Envs or Vending.
	KeyServiceOnly bool
	// Backups reads hatoba's own backup and drill runs (nil: the backups
	// page says there is no schedule).
	Backups BackupRuns
}

// Console serves the console's pages.
type Console struct {
	api *api.Server
	mfa *mfa.Service
	log *slog.Logger
	now func() time.Time
	// crossOrigin refuses unsafe requests another site's page made; signed-in
	// forms also carry a token bound to the session (csrf.go).
	crossOrigin *http.CrossOriginProtection
	// pages holds each page's template set per language: the catalogue is
	// bound into the template functions when the templates are parsed.
	pages         map[lang]map[string]*template.Template
	catalogues    map[lang]catalogue
	static        http.Handler
	staticVersion string
	webauthnJS    []byte
	// keysOnly: the key service's console (Deps.KeyServiceOnly).
	keysOnly bool
	// backupRuns: Deps.Backups.
	backupRuns BackupRuns
	// trends caches the dashboard's trends per scope (dashboard_map.go).
	trends trendCache
}

// pageNames are the page templates in templates/, each parsed together with
// layout.html.
var pageNames = []string{"dashboard", "orgs", "org", "envs", "env_new", "env", "approvals", "error",
	"login", "invitation", "second_factor", "people", "account",
	"env_access", "access", "access_request", "access_confirm", "audit", "keys",
	"controls", "control", "assignments", "impact", "exceptions", "posture", "backups", "notify", "sovereignty", "sovereignty_national", "providers"}

// New builds the console: it parses the templates and catalogues, so a
// broken template fails at start-up rather than on a page view.
func New(d Deps) (*Console, error) {
	a := d.API
	if a == nil || a.Orgs == nil || !d.KeyServiceOnly && (a.Envs == nil || a.Vending == nil) {
		return nil, errors.New("web: Deps.API with Envs, Orgs and Vending is required (Orgs and Keys for the key service's console)")
	}
	if d.KeyServiceOnly && a.Keys == nil {
		return nil, errors.New("web: the key service's console needs Deps.API.Keys")
	}
	// Without these nobody could sign in, or everybody could: refuse to
	// start rather than serve a console that fails open.
	if a.Identity == nil || a.Authz == nil || a.Certs == nil || d.MFA == nil {
		return nil, errors.New("web: Deps.API.Identity, Deps.API.Authz, Deps.API.Certs and Deps.MFA are required")
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := d.Now
	if now == nil {
		now = time.Now
	}
	c := &Console{api: a, mfa: d.MFA, log: log, now: now, keysOnly: d.KeyServiceOnly, backupRuns: d.Backups, pages: map[lang]map[string]*template.Template{},
		webauthnJS: mfa.Script(), crossOrigin: http.NewCrossOriginProtection()}
	if a.PublicURL != "" {
		// Behind a proxy that rewrites Host, the browser's Origin is the
		// public one.
		if origin, ok := originOf(a.PublicURL); ok {
			if err := c.crossOrigin.AddTrustedOrigin(origin); err != nil {
				return nil, fmt.Errorf("web: public URL %q: %w", a.PublicURL, err)
			}
		}
	}
	var err error
	if c.catalogues, err = loadCatalogues(); err != nil {
		return nil, err
	}
	staticRoot, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	if c.staticVersion, err = contentVersion(staticRoot); err != nil {
		return nil, err
	}
	c.static = http.StripPrefix("/static/", http.FileServerFS(staticRoot))
	for _, l := range languages {
		c.pages[l] = map[string]*template.Template{}
		funcs := c.funcs(l)
		for _, name := range pageNames {
			t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/charts.html", "templates/"+name+".html")
			if err != nil {
				return nil, fmt.Errorf("web: template %s: %w", name, err)
			}
			c.pages[l][name] = t
		}
	}
	return c, nil
}

// originOf is the origin ("https://host[:port]") of an absolute URL.
func originOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

// contentVersion is a short hash of every static file: page links carry it,
// so browsers may cache the files for good and still see a new release.
func contentVersion(root fs.FS) (string, error) {
	var names []string
	err := fs.WalkDir(root, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, path)
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("web: static files: %w", err)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		b, err := fs.ReadFile(root, name)
		if err != nil {
			return "", fmt.Errorf("web: static file %s: %w", name, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// route is one entry of the console's route table.
type route struct {
	pattern string
	// action is what the route does, for the decision point: the guard lets
	// a request through only for a principal whose role may do it somewhere,
	// and handlers that touch one resource ask about that resource.
	action  authz.Action
	handler func(*Console, http.ResponseWriter, *http.Request)
	flags   routeFlags
}

// routeFlags adjust how the guard treats a route.
type routeFlags uint8

const (
	// beforeSecondFactor: reachable by a session still waiting for its
	// security-key confirmation (the pages that give it, and signing out).
	beforeSecondFactor routeFlags = 1 << iota
	// jsonReplies: the route speaks JSON to webauthn.js, so refusals are
	// problem documents, not pages.
	jsonReplies
	// noSession: no session lookup at all (static files).
	noSession
)

// routes is every page and action of the console, in one readable list.
var routes = []route{
	{"GET /{$}", authz.ReadSystem, (*Console).dashboard, 0},
	{"GET /orgs", authz.ReadOrgs, (*Console).orgList, 0},
	{"GET /orgs/{id}", authz.ReadOrgs, (*Console).orgDetail, 0},
	{"GET /envs", authz.ReadEnvs, (*Console).envList, 0},
	{"GET /envs/new", authz.RequestEnv, (*Console).envForm, 0},
	{"POST /envs", authz.RequestEnv, (*Console).createEnv, 0},
	{"GET /envs/{id}", authz.ReadEnvs, (*Console).envDetail, 0},
	{"POST /envs/{id}/approve", authz.DecideEnv, (*Console).approve, 0},
	{"POST /envs/{id}/reject", authz.DecideEnv, (*Console).reject, 0},
	{"POST /envs/{id}/retry", authz.RetryEnv, (*Console).retry, 0},
	{"POST /envs/{id}/transfer", authz.TransferEnv, (*Console).transfer, 0},
	{"POST /envs/{id}/close", authz.CloseEnv, (*Console).closeEnv, 0},
	{"GET /envs/{id}/access", authz.ReadEnvs, (*Console).envAccess, 0},
	{"POST /envs/{id}/access", authz.AssignAccess, (*Console).assignAccess, 0},
	{"POST /envs/{id}/access/{person_id}/remove", authz.AssignAccess, (*Console).unassignAccess, 0},
	{"GET /approvals", authz.ReadApproval, (*Console).approvalQueue, 0},
	// Provider connections and the placement policy: everyone signed in
	// reads them; central operators change the policy (providers.go).
	{"GET /providers", authz.ReadSystem, (*Console).providers, 0},
	{"POST /providers/placement", authz.WritePlacement, (*Console).putPlacement, 0},
	{"GET /people", authz.ReadPeople, (*Console).people, 0},
	{"POST /people", authz.InvitePeople, (*Console).invite, 0},
	{"POST /people/{id}/disable", authz.ManagePeople, (*Console).disablePerson, 0},
	{"POST /people/{id}/enable", authz.ManagePeople, (*Console).enablePerson, 0},
	{"GET /account", authz.Self, (*Console).account, 0},
	{"POST /account/keys/{id}/remove", authz.Self, (*Console).removeKey, 0},

	// Break-glass access. Approving and denying first draw a page that
	// asks for the security key; its ceremony, bound to that one decision,
	// decides (access.go).
	{"GET /access", authz.ReadAccess, (*Console).accessList, 0},
	{"POST /access", authz.RequestAccess, (*Console).fileAccess, 0},
	{"GET /access/{id}", authz.ReadAccess, (*Console).accessDetail, 0},
	{"POST /access/{id}/approve", authz.ApproveAccess, (*Console).confirmApprove, 0},
	{"POST /access/{id}/deny", authz.ApproveAccess, (*Console).confirmDeny, 0},
	{"POST /access/{id}/approve/begin", authz.ApproveAccess, (*Console).approveBegin, jsonReplies},
	{"POST /access/{id}/approve/finish", authz.ApproveAccess, (*Console).approveFinish, jsonReplies},
	{"POST /access/{id}/deny/begin", authz.ApproveAccess, (*Console).denyBegin, jsonReplies},
	{"POST /access/{id}/deny/finish", authz.ApproveAccess, (*Console).denyFinish, jsonReplies},
	{"POST /access/{id}/revoke", authz.RevokeAccess, (*Console).revokeAccess, 0},
	{"GET /audit", authz.ReadAudit, (*Console).auditLog, 0},
	{"GET /backups", authz.ReadAudit, (*Console).backups, 0}, // central staff only (backups.go)

	// The key service (keys.go): its custody state for everyone signed in,
	// sealing for operators; a tenant's keys for its administrators and
	// the auditors, changed only by its key owners with a fresh touch of
	// the security key.
	{"GET /keys", authz.ReadSystem, (*Console).keysHome, 0},
	{"POST /keys/seal", authz.SealKeys, (*Console).sealKeys, 0},
	{"GET /keys/{org}", authz.ReadKeys, (*Console).keysOf, 0},
	{"POST /keys/{org}/keys", authz.ManageKeys, (*Console).createKey, 0},
	{"POST /keys/{org}/keys/{key}/usage", authz.ManageKeys, (*Console).setKeyUsage, 0},
	{"POST /keys/{org}/keys/{key}/rotate", authz.ManageKeys, (*Console).rotateKey, 0},
	{"POST /keys/{org}/keys/{key}/disable", authz.ManageKeys, (*Console).disableKey, 0},
	{"POST /keys/{org}/keys/{key}/enable", authz.ManageKeys, (*Console).enableKey, 0},
	{"POST /keys/{org}/credentials", authz.ManageKeys, (*Console).createXKSCredential, 0},
	{"POST /keys/{org}/credentials/{akid}/revoke", authz.ManageKeys, (*Console).revokeXKSCredential, 0},
	{"POST /keys/{org}/kill", authz.ManageKeys, (*Console).killKeys, 0},
	{"POST /keys/{org}/revive", authz.ManageKeys, (*Console).reviveKeys, 0},
	{"POST /people/{id}/key-owner", authz.AssignKeyOwner, (*Console).setKeyOwner, 0},

	// The controls (controls.go, posture.go): the catalog and where each
	// control applies for everyone signed in; assigning, promoting to
	// enforce (after the impact page) and deciding exceptions for central
	// operators; an environment's findings read like the environment,
	// exceptions asked for by its tenant's administrators.
	{"GET /controls", authz.ReadControls, (*Console).controlList, 0},
	{"GET /controls/{id}", authz.ReadControls, (*Console).controlDetail, 0},
	{"GET /controls/assignments", authz.ReadControls, (*Console).assignmentList, 0},
	{"POST /controls/assignments", authz.AssignControls, (*Console).assign, 0},
	{"GET /controls/assignments/{id}/impact", authz.AssignControls, (*Console).assignmentImpact, 0},
	{"POST /controls/assignments/{id}/promote", authz.AssignControls, (*Console).promote, 0},
	{"POST /controls/assignments/{id}/remove", authz.AssignControls, (*Console).unassign, 0},
	{"GET /controls/exceptions", authz.ReadExceptions, (*Console).exceptionList, 0},
	{"POST /controls/exceptions/{id}/approve", authz.DecideException, (*Console).approveException, 0},
	{"POST /controls/exceptions/{id}/reject", authz.DecideException, (*Console).rejectException, 0},
	{"GET /envs/{id}/posture", authz.ReadPosture, (*Console).envPosture, 0},
	{"GET /envs/{id}/sovereignty", authz.ReadSovereignty, (*Console).envSovereignty, 0},
	{"GET /sovereignty", authz.ReadSovereignty, (*Console).sovereigntyNational, 0},
	{"POST /envs/{id}/posture/collect", authz.CollectPosture, (*Console).collectPosture, 0},
	{"POST /envs/{id}/exceptions", authz.RequestException, (*Console).requestException, 0},

	// Notifications: an organisation's inbox, channels, outbox and
	// suppressions; central's critical digest.
	{"GET /notify", authz.ReadNotices, (*Console).notifyHome, 0},
	{"GET /orgs/{id}/notify", authz.ReadNotices, (*Console).orgNotify, 0},
	{"POST /orgs/{id}/notify/channels/{channel}/test", authz.ManageNotify, (*Console).testNotifyChannel, 0},
	{"POST /orgs/{id}/notify/deliveries/{delivery}/retry", authz.ManageNotify, (*Console).retryNotifyDelivery, 0},
	{"POST /orgs/{id}/notify/notices/{notice}/acknowledge", authz.AnswerNotice, (*Console).acknowledgeNotifyNotice, 0},
	{"POST /orgs/{id}/notify/notices/{notice}/fix", authz.AnswerNotice, (*Console).fixNotifyNotice, 0},

	// Signing in and out.
	{"GET /login", authz.Public, (*Console).loginPage, 0},
	{"POST /login", authz.Public, (*Console).login, 0},
	{"POST /logout", authz.Self, (*Console).logout, beforeSecondFactor},
	{"GET /invitations/{token}", authz.Public, (*Console).invitation, 0},
	{"POST /invitations/{token}", authz.Public, (*Console).acceptInvitation, 0},
	{"GET /login/second-factor", authz.Self, (*Console).secondFactor, beforeSecondFactor},
	{"POST /webauthn/register/begin", authz.Self, (*Console).registerBegin, beforeSecondFactor | jsonReplies},
	{"POST /webauthn/register/finish", authz.Self, (*Console).registerFinish, beforeSecondFactor | jsonReplies},
	{"POST /webauthn/assert/begin", authz.Self, (*Console).assertBegin, beforeSecondFactor | jsonReplies},
	{"POST /webauthn/assert/finish", authz.Self, (*Console).assertFinish, beforeSecondFactor | jsonReplies},

	{"GET /static/webauthn.js", authz.Public, (*Console).serveWebAuthnJS, noSession},
	{"GET /static/", authz.Public, (*Console).serveStatic, noSession},
	// Everything no other handler on the mux claims gets the console's 404
	// page; more specific patterns (/api/, /metrics) still win.
	{"/", authz.Public, (*Console).notFound, 0},
}

// Register adds the console's routes to mux, each behind the guard.
func (c *Console) Register(mux *http.ServeMux) {
	for _, rt := range routes {
		if !c.keysOnly || keyServiceRoute(rt) {
			mux.HandleFunc(rt.pattern, c.guard(rt))
		}
	}
}

// keyServiceRoute reports whether the key service's own console serves
// rt: its pages, signing in and the security key, the account (to enrol
// a key for this host), static files and the 404 page.
func keyServiceRoute(rt route) bool {
	_, path, _ := strings.Cut(rt.pattern, " ")
	if path == "" {
		path = rt.pattern
	}
	for _, prefix := range []string{"/keys", "/login", "/logout", "/webauthn/", "/static/", "/account"} {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return path == "/" || path == "/{$}"
}

// contentSecurityPolicy allows only the console's own files: no inline
// script or style, so an injected string cannot run.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// setHeaders sets the security headers of every console response and
// remembers an explicit ?lang= choice in a cookie.
func (c *Console) setHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if l, ok := parseLang(r.URL.Query().Get("lang")); ok {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: "/", MaxAge: 365 * 24 * 60 * 60, //nolint:gosec // G124: a language preference, no secret; Secure over TLS, SameSite Lax
			SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	}
}

func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/") {
		c.notFound(w, r) // no directory listings
		return
	}
	c.cacheHeaders(w, r, c.staticVersion)
	c.static.ServeHTTP(w, r)
}

// serveWebAuthnJS serves mfa's script beside the console's own files, with
// the same caching: for good under its version, revalidated without it.
func (c *Console) serveWebAuthnJS(w http.ResponseWriter, r *http.Request) {
	c.cacheHeaders(w, r, mfa.ScriptVersion())
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	http.ServeContent(w, r, "webauthn.js", time.Time{}, bytes.NewReader(c.webauthnJS))
}

func (c *Console) cacheHeaders(w http.ResponseWriter, r *http.Request, version string) {
	if r.URL.Query().Get("v") == version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
}

// view is what the layout template renders; Page is the page's own data.
type view struct {
	Lang  lang
	Other langLink
	Nav   string
	// CSRF is the signed-in session's form token; empty when signed out.
	CSRF string
	// Me is the signed-in person; nil when signed out.
	Me *viewer
	// Path is the page's address, which its forms send back as "from".
	Path   string
	Final  []env.State
	Notice string
	// Alert is a condition the signed-in person must act on, shown on
	// every page (the key service's usage record failing).
	Alert string
	Page  any
}

// langLink switches the page to the other language.
type langLink struct {
	Lang lang
	Name string
	Href string
}

// render renders a page, or the 500 page if that fails.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page, nav string, data any) {
	if err := c.renderPage(w, r, status, page, nav, data); err != nil {
		c.internalError(w, r, err)
	}
}

// renderPage executes page into a buffer first, so a failing template
// produces a clean error page instead of half a page.
func (c *Console) renderPage(w http.ResponseWriter, r *http.Request, status int, page, nav string, data any) error {
	l := langOf(r)
	t, ok := c.pages[l][page]
	if !ok {
		return fmt.Errorf("web: no template %q", page)
	}
	other := otherLang(l)
	v := view{Lang: l, Other: langLink{Lang: other, Name: c.catalogues[other]["lang.name"], Href: switchTarget(r, other)},
		Nav: nav, Path: pagePath(r), Final: finalStates, Notice: c.notice(r, l), Page: data}
	if vis, ok := visitorFrom(r.Context()); ok {
		v.CSRF = csrfToken(vis.secret)
		v.Me = &viewer{Person: vis.person, principal: vis.principal, pending: vis.pending(), authz: c.api.Authz, keysOnly: c.keysOnly}
		v.Alert = c.keyRecordAlert(v.Me, l)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("web: render %s: %w", page, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if _, err := w.Write(buf.Bytes()); err != nil {
		// The client went away; nothing left to tell it.
		c.log.Debug("console: writing response", "path", r.URL.Path, "err", err)
	}
	return nil
}

// keyRecordAlert warns those who run keys — the key service's operators and
// the tenants' key readers — that usage records are not being written, so
// every key request is failing closed (docs/keys.md).
func (c *Console) keyRecordAlert(me *viewer, l lang) string {
	if c.api.KeyRecordFailing == nil || !(me.May(authz.SealKeys) || me.May(authz.ReadKeys)) {
		return ""
	}
	failing, since := c.api.KeyRecordFailing()
	if !failing {
		return ""
	}
	return fmt.Sprintf(c.catalogues[l]["keys.record_failing"], since.In(jst).Format("2006-01-02 15:04:05"))
}

// finalStates are the states an environment leaves only by an operator's
// action; pages stop refreshing an environment once it reaches one.
var finalStates = []env.State{env.Ready, env.Rejected, env.Failed, env.Closed}

func isFinal(s env.State) bool {
	for _, f := range finalStates {
		if s == f {
			return true
		}
	}
	return false
}
