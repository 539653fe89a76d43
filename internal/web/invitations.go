package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/org"
)

// An invitation link (/invitations/{token}) is how a person's card comes to
// be registered: an administrator invites them, they open the link with
// their card in the reader, and "Register this card" binds the card's
// certificate to them (identity.Accept) and signs them in.

// invitationPage is the data of /invitations/{token}.
type invitationPage struct {
	Token string
	// State is "open", or why the invitation cannot be used: "unknown",
	// "used", "expired", "registered" (the card belongs to someone else)
	// or "refused" (the person was disabled).
	State     string
	Person    identity.Person
	Org       *org.Organization
	Presented presentedCert
	// Detail is identity's own message (English).
	Detail string
}

// maxInvitationToken bounds the token in the address; real ones are ~47
// characters.
const maxInvitationToken = 200

// invitationState names why identity refused an invitation. identity has
// no sentinel errors for these, so its messages decide; the tests pin each
// case, so a reworded message fails there rather than on a person's screen.
func invitationState(err error) (string, bool) {
	msg := messageOf(err)
	switch fault.KindOf(err) {
	case fault.NotFound:
		return "unknown", true
	case fault.Conflict:
		switch {
		case strings.Contains(msg, "already registered"):
			return "registered", true
		case strings.Contains(msg, "expired"):
			return "expired", true
		case strings.Contains(msg, "already accepted"):
			return "used", true
		}
	case fault.Forbidden:
		return "refused", true
	}
	return "", false
}

// invitationFailed draws the page for an invitation identity refused, or
// fails for any other error.
func (c *Console) invitationFailed(w http.ResponseWriter, r *http.Request, err error) {
	state, ok := invitationState(err)
	if !ok {
		c.fail(w, r, err)
		return
	}
	status := http.StatusConflict
	switch state {
	case "unknown":
		status = http.StatusNotFound
	case "refused":
		status = http.StatusForbidden
	}
	c.render(w, r, status, "invitation", "", invitationPage{State: state, Detail: messageOf(err)})
}

// openInvitation loads the invitation and the certificate presented for it.
func (c *Console) openInvitation(w http.ResponseWriter, r *http.Request) (invitationPage, bool) {
	token := r.PathValue("token")
	if token == "" || len(token) > maxInvitationToken {
		c.invitationFailed(w, r, fault.NotFoundf("this invitation link is not valid; ask your administrator for a new one"))
		return invitationPage{}, false
	}
	person, err := c.api.Identity.InvitationFor(r.Context(), token)
	if err != nil {
		c.invitationFailed(w, r, err)
		return invitationPage{}, false
	}
	p := invitationPage{Token: token, State: "open", Person: person}
	if person.OrgID != "" {
		o, err := c.orgOrPlaceholder(r, person.OrgID)
		if err != nil {
			c.fail(w, r, err)
			return invitationPage{}, false
		}
		p.Org = &o
	}
	if p.Presented, err = c.presented(r); err != nil {
		c.fail(w, r, err)
		return invitationPage{}, false
	}
	return p, true
}

func (c *Console) invitation(w http.ResponseWriter, r *http.Request) {
	if p, ok := c.openInvitation(w, r); ok {
		c.render(w, r, http.StatusOK, "invitation", "", p)
	}
}

func (c *Console) acceptInvitation(w http.ResponseWriter, r *http.Request) {
	p, ok := c.openInvitation(w, r)
	if !ok {
		return
	}
	if !p.Presented.OK {
		c.render(w, r, http.StatusForbidden, "invitation", "", p)
		return
	}
	ctx := r.Context()
	if _, err := c.api.Identity.Accept(ctx, p.Token, p.Presented.cert); err != nil {
		c.invitationFailed(w, r, err)
		return
	}
	_, secret, sess, err := c.api.Identity.SignIn(ctx, p.Presented.cert, identity.ConsoleSession, "invitation")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.startSession(w, r, secret, sess)
	// Next comes the security key: required for administrators and
	// auditors, offered to members.
	http.Redirect(w, r, "/login/second-factor?"+url.Values{"welcome": {"1"}}.Encode(), http.StatusSeeOther)
}
