package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
)

// nameBook resolves the person ids the capabilities record (requesters,
// approvers, actors, assignees) to the people behind them, each once per
// page. Pages show names; the id stays beside them for the record.
type nameBook struct {
	c      *Console
	r      *http.Request
	people map[string]identity.Person
}

func (c *Console) nameBook(r *http.Request) *nameBook {
	return &nameBook{c: c, r: r, people: map[string]identity.Person{}}
}

// person returns the person with id, or one that shows just the id when
// identity no longer knows them (or the id names no person: "system").
func (b *nameBook) person(id string) (identity.Person, error) {
	if p, ok := b.people[id]; ok {
		return p, nil
	}
	p, err := b.c.api.Identity.Person(b.r.Context(), id)
	switch {
	case fault.KindOf(err) == fault.NotFound:
		p = identity.Person{ID: id, DisplayName: id}
	case err != nil:
		return identity.Person{}, err
	}
	b.people[id] = p
	return p, nil
}

// actorRef is who did something as a capability records it: a person id,
// with " under <grant>" when a central operator acted under break-glass
// (env's requested_by and decided_by, envaccess's assigned_by).
type actorRef struct {
	Person identity.Person
	// Grant is the break-glass grant the action rode on, if any.
	Grant string
}

// actor resolves a recorded actor. An empty one stays empty.
func (b *nameBook) actor(recorded string) (actorRef, error) {
	if recorded == "" {
		return actorRef{}, nil
	}
	id, grant, _ := strings.Cut(recorded, " under ")
	p, err := b.person(id)
	if err != nil {
		return actorRef{}, err
	}
	return actorRef{Person: p, Grant: grant}, nil
}

// who names a recorded actor on a page: a person by their name, with the
// id (and a break-glass grant) in a title a pointer or a screen reader's
// detail gives; the approval rules and hatoba itself by the catalogue;
// anything else (an address an old record holds) as it was recorded.
func (c *Console) who(l lang, recorded string) template.HTML {
	cat := c.catalogues[l]
	switch recorded {
	case "", "system":
		return template.HTML(template.HTMLEscapeString(cat["actor.system"])) //nolint:gosec // G203: escaped
	case "rules":
		return template.HTML(template.HTMLEscapeString(cat["actor.rules"])) //nolint:gosec // G203: every value is escaped
	}
	id, grant, _ := strings.Cut(recorded, " under ")
	p, err := c.api.Identity.Person(context.Background(), id)
	if err != nil {
		return template.HTML(`<span data-data>` + template.HTMLEscapeString(recorded) + `</span>`) //nolint:gosec // G203: every value is escaped
	}
	title := p.ID
	if grant != "" {
		title = fmt.Sprintf(cat["actor.under_grant"], p.ID, grant)
	}
	return template.HTML(fmt.Sprintf(`<span class="person" title="%s">%s</span>`, template.HTMLEscapeString(title), template.HTMLEscapeString(p.DisplayName))) //nolint:gosec // G203: every value is escaped
}
