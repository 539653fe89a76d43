package web

import (
	"net/http"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
	"github.com/hatoba-cloud/hatoba/internal/org"
)

// accountPage is the data of /account: who I am, my session and my keys.
type accountPage struct {
	Person  identity.Person
	Org     *org.Organization
	Session identity.Session
	Keys    []mfa.Credential
	// Required: the role needs a key, so the last one cannot be removed.
	Required bool
	// Problem is why a removal was refused.
	Problem string
}

func (c *Console) account(w http.ResponseWriter, r *http.Request) {
	c.renderAccount(w, r, http.StatusOK, "")
}

func (c *Console) renderAccount(w http.ResponseWriter, r *http.Request, status int, problem string) {
	v := me(r)
	keys, err := c.mfa.Credentials(r.Context(), v.person.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := accountPage{Person: v.person, Session: v.session, Keys: keys, Required: v.principal.Role.NeedsSecondFactor(), Problem: problem}
	if v.person.OrgID != "" {
		o, err := c.orgOrPlaceholder(r, v.person.OrgID)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		p.Org = &o
	}
	c.render(w, r, status, "account", "account", p)
}

// removeKey removes one of the caller's own keys. Removing one that is
// already gone (a second click) succeeds; removing the last key of a role
// that needs one is refused, or the next sign-in could enrol a new key with
// the card alone.
func (c *Console) removeKey(w http.ResponseWriter, r *http.Request) {
	v := me(r)
	ctx := r.Context()
	id := r.PathValue("id")
	keys, err := c.mfa.Credentials(ctx, v.person.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	found := false
	for _, k := range keys {
		found = found || k.ID == id
	}
	if found && v.principal.Role.NeedsSecondFactor() && len(keys) == 1 {
		c.renderAccount(w, r, http.StatusConflict, c.message(r, "account.last_key"))
		return
	}
	if found {
		err := c.mfa.Remove(ctx, v.person.ID, id, c.recordKey(r, v, "mfa.credential.remove"))
		if err != nil && fault.KindOf(err) != fault.NotFound {
			c.fail(w, r, err)
			return
		}
	}
	http.Redirect(w, r, "/account?notice=key_removed", http.StatusSeeOther)
}
