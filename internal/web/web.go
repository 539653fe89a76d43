// Package web is hatoba's server-rendered console, in Japanese and English.
//
// It is a thin adapter, like the JSON API: every page reads through the same
// capabilities (the fields of api.Server) and every form acts through the
// vending engine, so the console holds no business rules of its own. Pages
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
	"sort"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/env"
)

var (
	//go:embed templates
	templateFS embed.FS
	//go:embed static
	staticFS embed.FS
)

// Deps are what the console needs from the rest of hatoba.
type Deps struct {
	// API gives the capabilities the console reads and acts through.
	API    *api.Server
	Logger *slog.Logger
}

// Console serves the console's pages.
type Console struct {
	api  *api.Server
	log  *slog.Logger
	csrf *csrfGuard
	// pages holds each page's template set per language: the catalogue is
	// bound into the template functions when the templates are parsed.
	pages         map[lang]map[string]*template.Template
	catalogues    map[lang]catalogue
	static        http.Handler
	staticVersion string
}

// pageNames are the page templates in templates/, each parsed together with
// layout.html.
var pageNames = []string{"dashboard", "orgs", "org", "envs", "env_new", "env", "approvals", "error"}

// New builds the console: it parses the templates and catalogues, so a
// broken template fails at start-up rather than on a page view.
func New(d Deps) (*Console, error) {
	if d.API == nil || d.API.Envs == nil || d.API.Orgs == nil || d.API.Vending == nil {
		return nil, errors.New("web: Deps.API with Envs, Orgs and Vending is required")
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	guard, err := newCSRFGuard()
	if err != nil {
		return nil, err
	}
	c := &Console{api: d.API, log: log, csrf: guard, pages: map[lang]map[string]*template.Template{}}
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
			t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
			if err != nil {
				return nil, fmt.Errorf("web: template %s: %w", name, err)
			}
			c.pages[l][name] = t
		}
	}
	return c, nil
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
	handler func(*Console, http.ResponseWriter, *http.Request)
}

// routes is every page and action of the console, in one readable list.
var routes = []route{
	{"GET /{$}", (*Console).dashboard},
	{"GET /orgs", (*Console).orgList},
	{"GET /orgs/{id}", (*Console).orgDetail},
	{"GET /envs", (*Console).envList},
	{"GET /envs/new", (*Console).envForm},
	{"POST /envs", (*Console).createEnv},
	{"GET /envs/{id}", (*Console).envDetail},
	{"POST /envs/{id}/approve", (*Console).approve},
	{"POST /envs/{id}/reject", (*Console).reject},
	{"POST /envs/{id}/retry", (*Console).retry},
	{"GET /approvals", (*Console).approvalQueue},
	{"GET /static/", (*Console).serveStatic},
	// Everything no other handler on the mux claims gets the console's 404
	// page; more specific patterns (/api/, /metrics) still win.
	{"/", (*Console).notFound},
}

// Register adds the console's routes to mux.
func (c *Console) Register(mux *http.ServeMux) {
	for _, rt := range routes {
		h := rt.handler
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			c.setHeaders(w, r)
			h(c, w, r)
		})
	}
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
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: "/", MaxAge: 365 * 24 * 60 * 60,
			SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	}
}

func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/") {
		c.notFound(w, r) // no directory listings
		return
	}
	if r.URL.Query().Get("v") == c.staticVersion {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	c.static.ServeHTTP(w, r)
}

// view is what the layout template renders; Page is the page's own data.
type view struct {
	Lang  lang
	Other langLink
	Nav   string
	CSRF  string
	// Path is the page's address, which its forms send back as "from".
	Path   string
	Final  []env.State
	Notice string
	Page   any
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
	token, err := c.csrf.token(w, r)
	if err != nil {
		return err
	}
	other := otherLang(l)
	v := view{Lang: l, Other: langLink{Lang: other, Name: c.catalogues[other]["lang.name"], Href: switchTarget(r, other)},
		Nav: nav, CSRF: token, Path: pagePath(r), Final: finalStates, Notice: c.notice(r, l), Page: data}
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
