package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/mfa"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// The second factor: administrators and auditors confirm every session with
// a WebAuthn security key before they may do anything (authz.Role.
// NeedsSecondFactor); members may register one too. The page at
// /login/second-factor enrols a first key or asks for one; webauthn.js (from
// mfa) runs the ceremonies against the JSON endpoints below, and a passed
// ceremony marks the session confirmed (identity.ConfirmSecondFactor).
//
// A session that has not been confirmed may register a key only while the
// person has none: otherwise the card alone (or a stolen session) could add
// a key of its own and skip the one already registered.

// secondFactorPage is the data of /login/second-factor.
type secondFactorPage struct {
	Next string
	// Enrol: the person has no key yet, so the page registers one.
	Enrol bool
	// Required: the role needs the second factor; otherwise it is offered.
	Required  bool
	Confirmed bool
	// Welcome: the person just registered their card.
	Welcome bool
}

func (c *Console) secondFactor(w http.ResponseWriter, r *http.Request) {
	v := me(r)
	has, err := c.mfa.HasCredential(r.Context(), v.person.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	c.render(w, r, http.StatusOK, "second_factor", "", secondFactorPage{
		Next: nextOf(q.Get("next")), Enrol: !has, Required: v.principal.Role.NeedsSecondFactor(),
		Confirmed: !v.session.SecondFactorAt.IsZero(), Welcome: q.Get("welcome") == "1",
	})
}

// mfaPerson is the person as mfa labels their keys.
func mfaPerson(v *visitor) mfa.Person {
	name := v.person.Email
	if name == "" {
		name = v.person.ID
	}
	return mfa.Person{ID: v.person.ID, Name: name, DisplayName: v.person.DisplayName}
}

// mayRegister says whether v may register a key now; if not it has
// answered.
func (c *Console) mayRegister(w http.ResponseWriter, r *http.Request, v *visitor) bool {
	if !v.session.SecondFactorAt.IsZero() {
		return true
	}
	has, err := c.mfa.HasCredential(r.Context(), v.person.ID)
	if err != nil {
		c.failJSON(w, r, err)
		return false
	}
	if has {
		c.problem(w, r, http.StatusForbidden, c.message(r, "second_factor.confirm_first"))
		return false
	}
	return true
}

func (c *Console) registerBegin(w http.ResponseWriter, r *http.Request) {
	v := me(r)
	if !c.mayRegister(w, r, v) {
		return
	}
	id, opts, err := c.mfa.BeginRegistration(r.Context(), mfaPerson(v))
	if err != nil {
		c.failJSON(w, r, mfaRefusal(err))
		return
	}
	c.writeJSON(w, r, mfa.BeginReply{Ceremony: id, Options: opts})
}

func (c *Console) registerFinish(w http.ResponseWriter, r *http.Request) {
	v := me(r)
	if !c.mayRegister(w, r, v) {
		return
	}
	req, err := mfa.ReadFinishRequest(r.Body)
	if err != nil {
		c.failJSON(w, r, err)
		return
	}
	ctx := r.Context()
	if _, err := c.mfa.FinishRegistration(ctx, mfaPerson(v), req.Ceremony, req.Credential, req.Name,
		c.recordKey(r, v, "mfa.credential.register")); err != nil {
		c.failJSON(w, r, mfaRefusal(err))
		return
	}
	// The first key, registered by the card's holder in a session the card
	// opened, is that session's second factor. A key added later, in a
	// session already confirmed, does not renew the confirmation.
	if v.session.SecondFactorAt.IsZero() {
		if err := c.api.Identity.ConfirmSecondFactor(ctx, v.secret); err != nil {
			c.failJSON(w, r, err)
			return
		}
	}
	c.writeJSON(w, r, mfa.FinishReply{})
}

func (c *Console) assertBegin(w http.ResponseWriter, r *http.Request) {
	id, opts, err := c.mfa.BeginAssertion(r.Context(), mfaPerson(me(r)))
	if err != nil {
		c.failJSON(w, r, mfaRefusal(err))
		return
	}
	c.writeJSON(w, r, mfa.BeginReply{Ceremony: id, Options: opts})
}

func (c *Console) assertFinish(w http.ResponseWriter, r *http.Request) {
	v := me(r)
	req, err := mfa.ReadFinishRequest(r.Body)
	if err != nil {
		c.failJSON(w, r, err)
		return
	}
	ctx := r.Context()
	// identity records the confirmation (session.second_factor) in the
	// audit log; mfa's own change is the key's counter.
	if _, err := c.mfa.FinishAssertion(ctx, mfaPerson(v), req.Ceremony, req.Credential, nil); err != nil {
		c.failJSON(w, r, mfaRefusal(err))
		return
	}
	if err := c.api.Identity.ConfirmSecondFactor(ctx, v.secret); err != nil {
		c.failJSON(w, r, err)
		return
	}
	c.writeJSON(w, r, mfa.FinishReply{})
}

// mfaRefusal turns mfa's "nothing to use" answers, which it reports as not
// found, into conflicts: the page exists, the person's state is what stops
// the ceremony (no key registered yet, a ceremony already used or never
// begun), and webauthn.js shows the message either way.
func mfaRefusal(err error) error {
	if errors.Is(err, mfa.ErrNoCredential) || errors.Is(err, mfa.ErrNoCeremony) {
		return &fault.Error{Kind: fault.Conflict, Message: messageOf(err), Err: err}
	}
	return err
}

// recordKey writes the audit entry of a change to v's keys in the change's
// own transaction: a key change whose record cannot be written does not
// happen.
func (c *Console) recordKey(r *http.Request, v *visitor, action string) mfa.Also {
	return func(tx *store.Tx, cred mfa.Credential) error {
		return audit.Append(r.Context(), tx, audit.Entry{Actor: v.person.ID, Action: action, OrgID: v.person.OrgID,
			Target: v.person.ID, Details: map[string]any{"credential": cred.ID, "name": cred.Name}})
	}
}

func (c *Console) writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		c.log.Debug("console: writing JSON", "path", r.URL.Path, "err", err)
	}
}
