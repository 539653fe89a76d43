package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// orgNode is an organisation in the tree with the organisations under it.
type orgNode struct {
	Org      org.Organization
	Children []*orgNode
	// Match marks an organisation the search found, as opposed to an
	// ancestor shown to place it.
	Match bool
	// Open unfolds the node: a search shows every match without clicks.
	Open bool
}

// orgTreePage is the data of /orgs.
type orgTreePage struct {
	Query       string
	QueryError  string
	Searched    bool
	Matches     int
	Truncated   bool
	National    []*orgNode
	Prefectures []*orgNode
	QuasiPublic []*orgNode
	// Other holds organisations whose parent is missing from the registry,
	// so that nothing stored is hidden.
	Other []*orgNode
}

// maxOrgPages bounds loading the whole registry (500 per page): Japan has
// about 2,000 bodies, so 50,000 is far beyond any real registry.
const maxOrgPages = 100

// maxMatches bounds the organisations a search shows.
const maxMatches = 200

// allOrgs loads every organisation within the listing filter, ordered by id.
func (c *Console) allOrgs(ctx context.Context, within []string) ([]org.Organization, error) {
	var all []org.Organization
	cursor := ""
	for range maxOrgPages {
		page, err := c.api.Orgs.List(ctx, org.ListParams{Limit: org.MaxLimit, Cursor: cursor, Within: within})
		if err != nil {
			return nil, fmt.Errorf("load organisations: %w", err)
		}
		all = append(all, page.Items...)
		if cursor = page.NextCursor; cursor == "" {
			return all, nil
		}
	}
	return nil, fmt.Errorf("load organisations: more than %d", maxOrgPages*org.MaxLimit)
}

func (c *Console) orgList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := orgTreePage{Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	// A tenant sees its own subtree; central staff see the registry.
	within, err := c.within(r, authz.ReadOrgs)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	matched := map[string]bool{}
	if p.Query != "" {
		// The registry owns what a search matches (names, kana in either
		// script, English, lg code); the console only arranges the answer.
		page, err := c.api.Orgs.List(ctx, org.ListParams{Query: p.Query, Limit: maxMatches, Within: within})
		if err != nil {
			if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid {
				p.QueryError = fe.Message
				c.render(w, r, http.StatusBadRequest, "orgs", "orgs", p)
				return
			}
			c.fail(w, r, err)
			return
		}
		p.Searched = true
		p.Matches, p.Truncated = len(page.Items), page.NextCursor != ""
		for _, o := range page.Items {
			matched[o.ID] = true
		}
	}
	all, err := c.allOrgs(ctx, within)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	show := map[string]bool{}
	byID := make(map[string]org.Organization, len(all))
	for _, o := range all {
		byID[o.ID] = o
	}
	// A search shows each match under its ancestors; no search shows all.
	for _, o := range all {
		if !p.Searched {
			show[o.ID] = true
			continue
		}
		if !matched[o.ID] {
			continue
		}
		for id, depth := o.ID, 0; id != "" && depth < 16; depth++ {
			show[id] = true
			id = byID[id].ParentID
		}
	}
	nodes := map[string]*orgNode{}
	for _, o := range all {
		if show[o.ID] {
			nodes[o.ID] = &orgNode{Org: o, Match: matched[o.ID], Open: p.Searched}
		}
	}
	// all is ordered by id, so children keep lg-code order (Hokkaidō first).
	for _, o := range all {
		n, ok := nodes[o.ID]
		if !ok {
			continue
		}
		if parent, ok := nodes[o.ParentID]; ok && o.ParentID != "" {
			parent.Children = append(parent.Children, n)
			continue
		}
		// A top-level node is a root of the registry, or, for a tenant, the
		// top of its subtree, whose parent lies outside its scope.
		switch {
		case o.ParentID != "" && within == nil:
			p.Other = append(p.Other, n) // its parent is missing from the registry
		case o.Kind == org.KindNational:
			p.National = append(p.National, n)
		case o.Kind == org.KindQuasiPublic:
			p.QuasiPublic = append(p.QuasiPublic, n)
		case o.Kind == org.KindPrefecture || o.ParentID != "":
			p.Prefectures = append(p.Prefectures, n)
		default:
			p.Other = append(p.Other, n)
		}
	}
	c.render(w, r, http.StatusOK, "orgs", "orgs", p)
}

// orgPage is the data of /orgs/{id}.
type orgPage struct {
	Org       org.Organization
	Ancestors []orgLink
	Parent    *orgLink
	Children  []org.Organization
	Envs      []envRow
	MoreEnvs  bool
	// CanRequest offers the request form for this organisation.
	CanRequest bool
	// Posture is the compliance score of its subtree, when the caller
	// may read it and the server evaluates controls.
	Posture *posture.Score
	// ByControl, Trend and CriticalOnly: the subtree's open findings by
	// control and its score's history (posture_pictures.go).
	ByControl    []controlRow
	Trend        *postureTrend
	CriticalOnly bool
}

// orgLink is an organisation named on a page, linked when the caller may
// open it: a tenant sees its parents' names but not their pages.
type orgLink struct {
	org.Organization
	Link bool
}

// envsOnOrgPage is how many of an organisation's environments its page lists.
const envsOnOrgPage = 100

func (c *Console) orgDetail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	// Outside the caller's scope an organisation reads like a missing one.
	res := authz.Resource{Kind: "organisation", ID: id, OrgID: id}
	if _, err := c.decide(r, authz.ReadOrgs, res); err != nil {
		c.fail(w, r, err)
		return
	}
	o, err := c.api.Orgs.Get(ctx, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := orgPage{Org: o, CanRequest: c.may(r, authz.RequestEnv, res)}
	ancestors, err := c.api.Orgs.Ancestors(ctx, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	orgsWithin, err := c.within(r, authz.ReadOrgs)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, a := range ancestors {
		p.Ancestors = append(p.Ancestors, orgLink{Organization: a, Link: inScope(orgsWithin, a.ID)})
	}
	if n := len(p.Ancestors); n > 0 {
		p.Parent = &p.Ancestors[n-1]
	}
	if p.Children, err = c.api.Orgs.Children(ctx, id); err != nil {
		c.fail(w, r, err)
		return
	}
	envsWithin, err := c.within(r, authz.ReadEnvs)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	envs, err := c.api.Envs.List(ctx, env.ListParams{OrgID: id, Limit: envsOnOrgPage, Within: envsWithin})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p.MoreEnvs = envs.NextCursor != ""
	for _, e := range envs.Items {
		p.Envs = append(p.Envs, envRow{Environment: e, Org: o})
	}
	if c.api.Posture != nil && c.may(r, authz.ReadPosture, res) {
		ids, err := c.api.Orgs.SubtreeIDs(ctx, []string{id})
		if err != nil {
			c.fail(w, r, err)
			return
		}
		sc, err := c.api.Posture.OrgScore(ctx, ids)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		p.Posture = &sc
		if c.engine() != nil {
			critical := !c.may(r, authz.ReadPostureDetail, res)
			if err := c.orgPictures(r, &p, ids, critical); err != nil {
				c.fail(w, r, err)
				return
			}
		}
	}
	c.render(w, r, http.StatusOK, "org", "orgs", p)
}

// orgOrPlaceholder returns organisation id, or one that shows just the id
// when the registry no longer has it.
func (c *Console) orgOrPlaceholder(r *http.Request, id string) (org.Organization, error) {
	o, err := c.api.Orgs.Get(r.Context(), id)
	if fault.KindOf(err) == fault.NotFound {
		return org.Organization{ID: id, NameJa: id}, nil
	}
	return o, err
}
