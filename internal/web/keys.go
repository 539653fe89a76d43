package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/org"
)

// The key service (/keys): hold-your-own-key (docs/keys.md). Every
// signed-in person sees the service's custody state; a central operator
// may seal it. A tenant's administrators (and central auditors) see an
// organisation's keys, its kill switch, its XKS credentials and the key
// usage record; its key owners — tenant administrators designated on the
// people page — change them. package keys holds every rule and authz
// decides who acts: the page offers the owner's forms only to a key owner,
// and every POST asks the decision point again, which also wants a fresh
// touch of the security key (a refusal for want of one leads to the
// confirmation page, as everywhere in the console).

// keyUsageShown is how many entries of the usage record the page shows.
const keyUsageShown = 100

// keysPage is the data of /keys and /keys/{org}.
type keysPage struct {
	// Status is the key service's custody state; NoService: this server
	// runs none (keyd.embedded off).
	Status    api.KeyServiceStatus
	NoService bool
	// CanSeal: the caller's role may seal the whole service (an operator).
	CanSeal bool

	// CanRead: the caller may read some organisation's keys; OrgID is the
	// one shown (empty: none chosen yet, as for an auditor).
	CanRead bool
	OrgID   string
	Org     *org.Organization
	// Orgs are the organisations of the caller's subtree to choose from
	// (only when there are several); Choose: the caller reaches every
	// organisation (an auditor) and types the id.
	Orgs   []org.Organization
	Choose bool

	// Sealed: the service is sealed, so the keys cannot be listed.
	Sealed bool
	Keys   []api.KeyView
	Store  api.KeyStoreView
	Usage  []keyUsageRow

	// Owner: the caller is a key owner who may act on this organisation
	// (perhaps after a fresh touch of the key).
	Owner bool
	// BecomeOwner: the caller is a tenant administrator who is not (yet)
	// a key owner here; the page says that is the first step.
	BecomeOwner bool
	Usages      []keys.Usage
	Form        keyForm
	// Created is a new XKS credential with its secret, shown once.
	Created *api.XKSCredentialView
	Errors  map[string]string
	Problem string
}

type keyForm struct {
	ID          string
	Description string
	Usage       keys.Usage
}

// keyUsageRow is an entry of the usage record, with its details picked
// out: who (a person, or the KMS principal), and the request's id and
// result for XKS calls.
type keyUsageRow struct {
	audit.Record
	Actor actorRef
	// Principal: the actor is not a person (an AWS principal's ARN, "kms",
	// a custodian's address).
	Principal    bool
	KMSRequestID string
	AWSPrincipal string
	Result       string
}

var keyUsages = keys.Usages

// errNoKeyService: a server that runs no key service.
var errNoKeyService = &fault.Error{Kind: fault.Unavailable, Message: "this server runs no key service (keyd.embedded is off)"}

func orgResource(orgID string) authz.Resource {
	return authz.Resource{Kind: "organisation", ID: orgID, OrgID: orgID}
}

func keysPath(orgID string) string { return "/keys/" + url.PathEscape(orgID) }

// keysHome is /keys: the service's state and, for a tenant's
// administrator, the own organisation's keys.
func (c *Console) keysHome(w http.ResponseWriter, r *http.Request) {
	if id := strings.TrimSpace(r.URL.Query().Get("org")); id != "" {
		// The organisation chooser's GET form.
		http.Redirect(w, r, keysPath(id), http.StatusSeeOther) //nolint:gosec // G710: keysPath is a local path with the id path-escaped
		return
	}
	orgID := ""
	p := me(r).principal
	if p.Role == authz.TenantAdmin && authz.Allows(p, authz.ReadKeys) {
		orgID = p.OrgID
	}
	c.renderKeys(w, r, http.StatusOK, keysPage{OrgID: orgID, Errors: map[string]string{}})
}

// keysOf is /keys/{org}: one organisation's keys.
func (c *Console) keysOf(w http.ResponseWriter, r *http.Request) {
	orgID := r.PathValue("org")
	if _, err := c.decide(r, authz.ReadKeys, orgResource(orgID)); err != nil {
		c.fail(w, r, err)
		return
	}
	c.renderKeys(w, r, http.StatusOK, keysPage{OrgID: orgID, Errors: map[string]string{}})
}

// renderKeys fills in the page for p.OrgID and draws it.
func (c *Console) renderKeys(w http.ResponseWriter, r *http.Request, status int, p keysPage) {
	ctx := r.Context()
	pr := me(r).principal
	if p.Errors == nil {
		p.Errors = map[string]string{}
	}
	if c.api.Keys == nil {
		p.NoService = true
		c.render(w, r, status, "keys", "keys", p)
		return
	}
	st, err := c.api.KeyServiceStatus(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p.Status = st
	p.CanSeal = authz.Allows(pr, authz.SealKeys)
	p.CanRead = mayAnywhere(c.api.Authz, pr, authz.ReadKeys)
	if p.CanRead {
		within, err := c.within(r, authz.ReadKeys)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if within == nil {
			p.Choose = true
		} else if len(within) > 1 {
			page, err := c.api.Orgs.List(ctx, org.ListParams{Within: within, Limit: 200})
			if err != nil {
				c.fail(w, r, err)
				return
			}
			p.Orgs = page.Items
		}
	}
	if p.OrgID == "" || !p.CanRead {
		c.render(w, r, status, "keys", "keys", p)
		return
	}
	o, err := c.orgOrPlaceholder(r, p.OrgID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p.Org = &o
	ks, err := c.api.Keys.Keys(ctx, p.OrgID)
	switch {
	case errors.Is(err, keys.ErrSealed):
		p.Sealed = true
	case err != nil:
		c.fail(w, r, err)
		return
	}
	for _, k := range ks {
		p.Keys = append(p.Keys, api.KeyView{OrgID: k.OrgID, ID: k.ID, Description: k.Description, Usage: k.Usage, State: k.State,
			Version: k.Version, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt})
	}
	if p.Store, err = c.api.KeyStore(r, p.OrgID); err != nil {
		c.fail(w, r, err)
		return
	}
	recs, err := c.api.KeyUsage(r, p.OrgID, keyUsageShown)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if p.Usage, err = c.keyUsageRows(r, recs); err != nil {
		c.fail(w, r, err)
		return
	}
	// The owner's forms: only for a key owner whom the decision point
	// would let act here, perhaps after a touch of the key.
	if pr.KeyOwner {
		_, err := c.decide(r, authz.ManageKeys, orgResource(p.OrgID))
		p.Owner = err == nil || isSecondFactor(err)
	}
	p.BecomeOwner = !p.Owner && pr.Role == authz.TenantAdmin
	p.Usages = keyUsages
	if p.Form.Usage == "" {
		p.Form.Usage = keys.UsageEncryptDecrypt
	}
	c.render(w, r, status, "keys", "keys", p)
}

// keyUsageRows resolves the record's actors and picks out the XKS
// details people look for.
func (c *Console) keyUsageRows(r *http.Request, recs []audit.Record) ([]keyUsageRow, error) {
	names := c.nameBook(r)
	rows := make([]keyUsageRow, 0, len(recs))
	for _, rec := range recs {
		row := keyUsageRow{Record: rec}
		var d map[string]any
		if rec.Details != "" && json.Unmarshal([]byte(rec.Details), &d) == nil {
			row.KMSRequestID, _ = d["kmsRequestId"].(string)
			row.AWSPrincipal, _ = d["awsPrincipalArn"].(string)
			row.Result, _ = d["result"].(string)
		}
		if strings.HasPrefix(rec.Actor, "arn:") || rec.Actor == "kms" || strings.HasPrefix(rec.Actor, "custodian@") ||
			rec.Actor == "system" || strings.HasPrefix(rec.Actor, "system:") {
			row.Principal = true
			if row.AWSPrincipal == "" && strings.HasPrefix(rec.Actor, "arn:") {
				row.AWSPrincipal = rec.Actor
			}
		} else {
			a, err := names.actor(rec.Actor)
			if err != nil {
				return nil, err
			}
			row.Actor = a
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// sealKeys seals the whole key service: every tenant's encrypt and
// decrypt fails until custodians unseal it again.
func (c *Console) sealKeys(w http.ResponseWriter, r *http.Request) {
	if c.api.Keys == nil {
		c.fail(w, r, errNoKeyService)
		return
	}
	if _, err := c.decide(r, authz.SealKeys, authz.Resource{}); err != nil {
		c.fail(w, r, err)
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		c.renderKeys(w, r, http.StatusUnprocessableEntity, keysPage{Errors: map[string]string{"seal_confirm": c.message(r, "keys.seal_confirm_missing")}})
		return
	}
	if err := c.api.Keys.Seal(r.Context(), me(r).principal); err != nil {
		// Sealing always happens; only its record failed.
		c.log.Error("console: recording the seal", "err", err)
	}
	http.Redirect(w, r, "/keys?notice=keys_sealed", http.StatusSeeOther)
}

// ownerOrg authorizes a key owner's action on the organisation in the
// path. On refusal it has answered.
func (c *Console) ownerOrg(w http.ResponseWriter, r *http.Request) (string, bool) {
	if c.api.Keys == nil {
		c.fail(w, r, errNoKeyService)
		return "", false
	}
	orgID := r.PathValue("org")
	if _, err := c.decide(r, authz.ManageKeys, orgResource(orgID)); err != nil {
		c.fail(w, r, err)
		return "", false
	}
	return orgID, true
}

// keyRefused answers a refused owner action: what the person can fix
// (an invalid value, a conflict) on the page itself, anything else as
// the error page.
func (c *Console) keyRefused(w http.ResponseWriter, r *http.Request, p keysPage, err error) {
	fe, _ := fault.As(err)
	switch k := fault.KindOf(err); {
	case k == fault.Invalid || k == fault.Conflict || (k == fault.Forbidden && errors.Is(err, keys.ErrKillSwitch)):
		if p.Errors == nil {
			p.Errors = map[string]string{}
		}
		if fe.Field != "" {
			p.Errors[fe.Field] = fe.Message
		} else {
			p.Problem = fe.Message
		}
		status := http.StatusUnprocessableEntity
		if k != fault.Invalid {
			status = http.StatusConflict
		}
		c.renderKeys(w, r, status, p)
	case errors.Is(err, keys.ErrSealed):
		p.Problem = c.message(r, "keys.sealed_act")
		c.renderKeys(w, r, http.StatusServiceUnavailable, p)
	default:
		c.fail(w, r, err)
	}
}

// keyDone sends the owner back to the organisation's page with a notice.
func keyDone(w http.ResponseWriter, r *http.Request, orgID, notice string) {
	http.Redirect(w, r, keysPath(orgID)+"?notice="+notice, http.StatusSeeOther) //nolint:gosec // G710: keysPath is a local path with the id path-escaped
}

func (c *Console) createKey(w http.ResponseWriter, r *http.Request) {
	orgID, ok := c.ownerOrg(w, r)
	if !ok {
		return
	}
	pf := r.PostForm
	f := keyForm{ID: strings.TrimSpace(pf.Get("id")), Description: strings.TrimSpace(pf.Get("description")), Usage: keys.Usage(pf.Get("usage"))}
	if _, err := c.api.Keys.CreateKey(r.Context(), me(r).principal, orgID, keys.KeySpec{ID: f.ID, Description: f.Description, Usage: f.Usage}); err != nil {
		c.keyRefused(w, r, keysPage{OrgID: orgID, Form: f}, err)
		return
	}
	keyDone(w, r, orgID, "key_created")
}

// keyChange runs one owner operation on the key in the path.
func (c *Console) keyChange(w http.ResponseWriter, r *http.Request, op func(by authz.Principal, orgID, keyID string) error) {
	orgID, ok := c.ownerOrg(w, r)
	if !ok {
		return
	}
	if err := op(me(r).principal, orgID, r.PathValue("key")); err != nil {
		c.keyRefused(w, r, keysPage{OrgID: orgID}, err)
		return
	}
	keyDone(w, r, orgID, "key_changed")
}

func (c *Console) setKeyUsage(w http.ResponseWriter, r *http.Request) {
	u := keys.Usage(r.PostForm.Get("usage"))
	c.keyChange(w, r, func(by authz.Principal, orgID, keyID string) error {
		_, err := c.api.Keys.SetUsage(r.Context(), by, orgID, keyID, u)
		return err
	})
}

func (c *Console) rotateKey(w http.ResponseWriter, r *http.Request) {
	c.keyChange(w, r, func(by authz.Principal, orgID, keyID string) error {
		_, err := c.api.Keys.Rotate(r.Context(), by, orgID, keyID)
		return err
	})
}

func (c *Console) disableKey(w http.ResponseWriter, r *http.Request) {
	c.keyChange(w, r, func(by authz.Principal, orgID, keyID string) error {
		_, err := c.api.Keys.Disable(r.Context(), by, orgID, keyID)
		return err
	})
}

func (c *Console) enableKey(w http.ResponseWriter, r *http.Request) {
	c.keyChange(w, r, func(by authz.Principal, orgID, keyID string) error {
		_, err := c.api.Keys.Enable(r.Context(), by, orgID, keyID)
		return err
	})
}

// killKeys pulls the kill switch. The form must repeat the organisation's
// id, as the API's confirm does: a slip of the hand must not make a
// tenant's data unreadable.
func (c *Console) killKeys(w http.ResponseWriter, r *http.Request) {
	orgID, ok := c.ownerOrg(w, r)
	if !ok {
		return
	}
	if strings.TrimSpace(r.PostForm.Get("confirm")) != orgID {
		c.renderKeys(w, r, http.StatusUnprocessableEntity, keysPage{OrgID: orgID,
			Errors: map[string]string{"confirm": c.message(r, "keys.kill_confirm_mismatch")}})
		return
	}
	if err := c.api.Keys.Kill(r.Context(), me(r).principal, orgID); err != nil {
		c.keyRefused(w, r, keysPage{OrgID: orgID}, err)
		return
	}
	keyDone(w, r, orgID, "keys_killed")
}

// reviveKeys turns the tenant's keys back on.
func (c *Console) reviveKeys(w http.ResponseWriter, r *http.Request) {
	orgID, ok := c.ownerOrg(w, r)
	if !ok {
		return
	}
	if err := c.api.Keys.Revive(r.Context(), me(r).principal, orgID); err != nil {
		c.keyRefused(w, r, keysPage{OrgID: orgID}, err)
		return
	}
	keyDone(w, r, orgID, "keys_revived")
}

// createXKSCredential makes a credential for the tenant's external key
// store and shows its secret on this answer only: hatoba keeps no copy it
// could show again.
func (c *Console) createXKSCredential(w http.ResponseWriter, r *http.Request) {
	orgID, ok := c.ownerOrg(w, r)
	if !ok {
		return
	}
	by := me(r).principal
	akid, secret, err := c.api.Keys.CreateXKSCredential(r.Context(), by, orgID)
	if err != nil {
		c.keyRefused(w, r, keysPage{OrgID: orgID}, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	c.renderKeys(w, r, http.StatusOK, keysPage{OrgID: orgID,
		Created: &api.XKSCredentialView{AccessKeyID: akid, Secret: secret, CreatedBy: by.PersonID, CreatedAt: c.now().UTC()}})
}

func (c *Console) revokeXKSCredential(w http.ResponseWriter, r *http.Request) {
	orgID, ok := c.ownerOrg(w, r)
	if !ok {
		return
	}
	if err := c.api.Keys.RevokeXKSCredential(r.Context(), me(r).principal, orgID, r.PathValue("akid")); err != nil {
		c.keyRefused(w, r, keysPage{OrgID: orgID}, err)
		return
	}
	keyDone(w, r, orgID, "xks_revoked")
}

// setKeyOwner designates a tenant administrator key owner, or takes it
// away (the people page's button). identity refuses anyone but a tenant
// administrator, and a change to one's own designation.
func (c *Console) setKeyOwner(w http.ResponseWriter, r *http.Request) {
	person, err := c.api.Identity.Person(r.Context(), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if _, err := c.decide(r, authz.AssignKeyOwner, authz.Resource{Kind: "person", ID: person.ID, OrgID: person.OrgID}); err != nil {
		c.fail(w, r, err)
		return
	}
	owner := r.PostForm.Get("owner") == "true"
	if _, err := c.api.Identity.SetKeyOwner(r.Context(), me(r).principal, person.ID, owner); err != nil {
		c.fail(w, r, err)
		return
	}
	notice := "key_owner_revoked"
	if owner {
		notice = "key_owner_granted"
	}
	http.Redirect(w, r, "/people?notice="+notice, http.StatusSeeOther)
}
