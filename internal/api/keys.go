package api

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// The key service's routes (docs/keys.md): custody for the platform, and
// each tenant's keys for its key owner. Key material never appears in any
// answer; an XKS credential's secret appears once, in the answer that made it.

// KeyServiceStatus is the key service's custody state.
type KeyServiceStatus struct {
	Initialized bool      `json:"initialized"`
	Mode        keys.Mode `json:"mode,omitempty"`
	Sealed      bool      `json:"sealed"`
	// Split mode: shares made, shares that unseal, shares submitted.
	Shares    int `json:"shares,omitempty"`
	Threshold int `json:"threshold,omitempty"`
	Submitted int `json:"submitted,omitempty"`
	// HSM mode: whether the token answers (only while unsealed).
	HSMHealthy *bool `json:"hsm_healthy,omitempty"`
}

// KeyView is a tenant key as the API shows it: metadata only.
type KeyView struct {
	OrgID       string     `json:"org_id"`
	ID          string     `json:"id"`
	Description string     `json:"description,omitempty"`
	Usage       keys.Usage `json:"usage"`
	State       keys.State `json:"state"`
	Version     int        `json:"version"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func keyView(k keys.Key) KeyView {
	return KeyView{OrgID: k.OrgID, ID: k.ID, Description: k.Description, Usage: k.Usage, State: k.State, Version: k.Version,
		CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt}
}

// KeyStoreView is a tenant's key store: the kill switch and the XKS
// credentials (never a secret).
type KeyStoreView struct {
	OrgID       string              `json:"org_id"`
	Killed      bool                `json:"killed"`
	Credentials []XKSCredentialView `json:"xks_credentials"`
}

// XKSCredentialView describes an XKS credential; Secret is set only in the
// answer that created it.
type XKSCredentialView struct {
	AccessKeyID string     `json:"access_key_id"`
	Secret      string     `json:"secret,omitempty"`
	CreatedBy   string     `json:"created_by,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// KeyInput creates a key.
type KeyInput struct {
	ID          string     `json:"id"`
	Description string     `json:"description"`
	Usage       keys.Usage `json:"usage"`
}

// UnsealInput is a custodian's share (split mode) or the token's PIN (HSM
// mode).
type UnsealInput struct {
	Share string `json:"share"`
	PIN   string `json:"pin"`
}

// KillInput confirms the kill switch: Confirm must repeat the organisation's
// id, so a slip of the hand cannot make a tenant's data unreadable.
type KillInput struct {
	Confirm string `json:"confirm"`
}

var errNoKeyService = &fault.Error{Kind: fault.Unavailable, Message: "this server runs no key service (keyd.embedded is off); ask the key service's own address"}

func (s *Server) keysOr503(w http.ResponseWriter, r *http.Request) bool {
	if s.Keys == nil {
		writeError(w, r, s.Logger, errNoKeyService)
		return false
	}
	return true
}

// KeyServiceStatus reports custody, and the HSM's health while unsealed.
func (s *Server) KeyServiceStatus(r *http.Request) (KeyServiceStatus, error) {
	if s.Keys == nil {
		return KeyServiceStatus{}, errNoKeyService
	}
	st, err := s.Keys.Status(r.Context())
	if err != nil {
		return KeyServiceStatus{}, err
	}
	out := KeyServiceStatus{Initialized: st.Initialized, Mode: st.Mode, Sealed: st.Sealed, Shares: st.Shares,
		Threshold: st.Threshold, Submitted: st.Submitted}
	if st.Mode == keys.ModeHSM && !st.Sealed {
		healthy := s.Keys.SelfTest(r.Context()) == nil
		out.HSMHealthy = &healthy
	}
	return out, nil
}

func (s *Server) keyServiceStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.KeyServiceStatus(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// unsealKeys takes a share or a PIN. It needs no session: custodians need
// not be hatoba users, and a share is itself the credential (256 random
// bits per share; a wrong one is refused and changes nothing). The audit
// entry names the address it came from, or the person when signed in.
func (s *Server) unsealKeys(w http.ResponseWriter, r *http.Request) {
	if !s.keysOr503(w, r) {
		return
	}
	var in UnsealInput
	if !decodeJSON(w, r, &in) {
		return
	}
	ctx := r.Context()
	st, err := s.Keys.Status(ctx)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	switch {
	case !st.Initialized:
		err = keys.ErrNotInitialized
	case st.Mode == keys.ModeSplit && in.Share == "":
		err = fault.InvalidField("share", "the key service is in split mode: send a custodian's share")
	case st.Mode == keys.ModeSplit:
		_, err = s.Keys.SubmitShare(ctx, audit.Acting{Actor: s.custodian(r)}, in.Share)
	case in.PIN == "":
		err = fault.InvalidField("pin", "the key service is in HSM mode: send the token's user PIN")
	default:
		cfg := s.KeyHSM
		cfg.PIN = in.PIN
		err = s.Keys.UnsealHSM(ctx, audit.Acting{Actor: s.custodian(r)}, cfg)
	}
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	s.keyServiceStatus(w, r)
}

// custodian names who submitted a share: the signed-in person if the
// request carries a valid token, else the client's address.
func (s *Server) custodian(r *http.Request) string {
	if secret, _, ok := credential(r); ok {
		if p, _, err := s.Identity.Authenticate(r.Context(), secret); err == nil {
			return p.PersonID
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "custodian@" + host
}

func (s *Server) sealKeys(w http.ResponseWriter, r *http.Request) {
	if !s.keysOr503(w, r) {
		return
	}
	if _, err := s.decide(r, authz.SealKeys, authz.Resource{}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if err := s.Keys.Seal(r.Context(), principal(r)); err != nil {
		// Sealing always happens; only its record failed.
		s.Logger.ErrorContext(r.Context(), "recording the seal", "err", err)
	}
	s.keyServiceStatus(w, r)
}

// keyOrg authorizes action on the organisation in the path.
func (s *Server) keyOrg(w http.ResponseWriter, r *http.Request, action authz.Action) (string, bool) {
	if !s.keysOr503(w, r) {
		return "", false
	}
	orgID := r.PathValue("id")
	if _, err := s.decide(r, action, authz.Resource{Kind: "organisation", ID: orgID, OrgID: orgID}); err != nil {
		writeError(w, r, s.Logger, err)
		return "", false
	}
	return orgID, true
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	orgID, ok := s.keyOrg(w, r, authz.ReadKeys)
	if !ok {
		return
	}
	ks, err := s.Keys.Keys(r.Context(), orgID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	items := make([]KeyView, len(ks))
	for i, k := range ks {
		items[i] = keyView(k)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) {
	orgID, ok := s.keyOrg(w, r, authz.ReadKeys)
	if !ok {
		return
	}
	k, err := s.Keys.Key(r.Context(), orgID, r.PathValue("key"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, keyView(k))
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	orgID, ok := s.keyOrg(w, r, authz.ManageKeys)
	if !ok {
		return
	}
	var in KeyInput
	if !decodeJSON(w, r, &in) {
		return
	}
	k, err := s.Keys.CreateKey(r.Context(), principal(r), orgID, keys.KeySpec{ID: in.ID, Description: in.Description, Usage: in.Usage})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Location", "/api/v1/organizations/"+orgID+"/keys/"+k.ID)
	writeJSON(w, http.StatusCreated, keyView(k))
}

// keyChange runs one owner operation on the key in the path.
func (s *Server) keyChange(w http.ResponseWriter, r *http.Request,
	op func(by authz.Principal, orgID, keyID string) (keys.Key, error)) {
	orgID, ok := s.keyOrg(w, r, authz.ManageKeys)
	if !ok {
		return
	}
	k, err := op(principal(r), orgID, r.PathValue("key"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, keyView(k))
}

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) {
	s.keyChange(w, r, func(by authz.Principal, orgID, keyID string) (keys.Key, error) {
		return s.Keys.Rotate(r.Context(), by, orgID, keyID)
	})
}

func (s *Server) disableKey(w http.ResponseWriter, r *http.Request) {
	s.keyChange(w, r, func(by authz.Principal, orgID, keyID string) (keys.Key, error) {
		return s.Keys.Disable(r.Context(), by, orgID, keyID)
	})
}

func (s *Server) enableKey(w http.ResponseWriter, r *http.Request) {
	s.keyChange(w, r, func(by authz.Principal, orgID, keyID string) (keys.Key, error) {
		return s.Keys.Enable(r.Context(), by, orgID, keyID)
	})
}

func (s *Server) setKeyUsage(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Usage keys.Usage `json:"usage"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	s.keyChange(w, r, func(by authz.Principal, orgID, keyID string) (keys.Key, error) {
		return s.Keys.SetUsage(r.Context(), by, orgID, keyID, in.Usage)
	})
}

// KeyStore returns a tenant's key store view; the caller has authorized.
func (s *Server) KeyStore(r *http.Request, orgID string) (KeyStoreView, error) {
	killed, err := s.Keys.Killed(r.Context(), orgID)
	if err != nil {
		return KeyStoreView{}, err
	}
	creds, err := s.Keys.XKSCredentials(r.Context(), orgID)
	if err != nil {
		return KeyStoreView{}, err
	}
	v := KeyStoreView{OrgID: orgID, Killed: killed, Credentials: make([]XKSCredentialView, len(creds))}
	for i, c := range creds {
		v.Credentials[i] = XKSCredentialView{AccessKeyID: c.AccessKeyID, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, RevokedAt: c.RevokedAt}
	}
	return v, nil
}

func (s *Server) getKeyStore(w http.ResponseWriter, r *http.Request) {
	orgID, ok := s.keyOrg(w, r, authz.ReadKeys)
	if !ok {
		return
	}
	v, err := s.KeyStore(r, orgID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) killKeyStore(w http.ResponseWriter, r *http.Request) {
	orgID, ok := s.keyOrg(w, r, authz.ManageKeys)
	if !ok {
		return
	}
	var in KillInput
	if !decodeJSON(w, r, &in) {
		return
	}
	if in.Confirm != orgID {
		writeError(w, r, s.Logger, fault.InvalidField("confirm",
			"the kill switch makes every key of %s unusable at once: repeat the organisation's id in confirm to pull it", orgID))
		return
	}
	if err := s.Keys.Kill(r.Context(), principal(r), orgID); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	s.getKeyStore(w, r)
}

func (s *Server) reviveKeyStore(w http.ResponseWriter, r *http.Request) {
	orgID, ok := s.keyOrg(w, r, authz.ManageKeys)
	if !ok {
		return
	}
	if err := s.Keys.Revive(r.Context(), principal(r), orgID); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	s.getKeyStore(w, r)
}

func (s *Server) createXKSCredential(w http.ResponseWriter, r *http.Request) {
	orgID, ok := s.keyOrg(w, r, authz.ManageKeys)
	if !ok {
		return
	}
	akid, secret, err := s.Keys.CreateXKSCredential(r.Context(), principal(r), orgID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, XKSCredentialView{AccessKeyID: akid, Secret: secret, CreatedBy: principal(r).PersonID, CreatedAt: time.Now().UTC()})
}

func (s *Server) revokeXKSCredential(w http.ResponseWriter, r *http.Request) {
	orgID, ok := s.keyOrg(w, r, authz.ManageKeys)
	if !ok {
		return
	}
	if err := s.Keys.RevokeXKSCredential(r.Context(), principal(r), orgID, r.PathValue("access_key_id")); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// KeyUsage returns the newest entries of a tenant's key record: every
// owner operation and every cryptographic request (key.*). The caller has
// authorized.
func (s *Server) KeyUsage(r *http.Request, orgID string, limit int) ([]audit.Record, error) {
	return audit.Entries(r.Context(), s.KeyDB(), audit.Filter{OrgIDs: []string{orgID}, ActionPrefix: "key.", Newest: true, Limit: limit})
}

func (s *Server) keyUsage(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, usageParams...) {
		return
	}
	orgID, ok := s.keyOrg(w, r, authz.ReadKeys)
	if !ok {
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, r, s.Logger, fault.InvalidField("limit", "limit must be a whole number from 1 to 1000, not %q", v))
			return
		}
		limit = n
	}
	recs, err := s.KeyUsage(r, orgID, limit)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": recs})
}

func (s *Server) setKeyOwner(w http.ResponseWriter, r *http.Request) {
	var in struct {
		KeyOwner *bool `json:"key_owner"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	if in.KeyOwner == nil {
		writeError(w, r, s.Logger, fault.InvalidField("key_owner", "key_owner (true or false) is required"))
		return
	}
	target, err := s.Identity.Person(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if _, err := s.decide(r, authz.AssignKeyOwner, authz.Resource{Kind: "person", ID: target.ID, OrgID: target.OrgID}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	p, err := s.Identity.SetKeyOwner(r.Context(), principal(r), target.ID, *in.KeyOwner)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// KeyDB is the database holding the key service's record: its own when
// it keeps one, else the control plane's.
func (s *Server) KeyDB() store.Querier {
	if s.KeyRecordDB != nil {
		return s.KeyRecordDB
	}
	return s.DB
}

// ExternalKeyInput names the tenant key an environment's cloud key is
// backed by.
type ExternalKeyInput struct {
	KeyID string `json:"key_id"`
}

// createExternalKey gives a ready environment a cloud key backed by the
// tenant's key (AWS: an XKS-backed KMS key in the tenant's external key
// store), connected with the tenant's newest live XKS credential — made
// now if it has none.
func (s *Server) createExternalKey(w http.ResponseWriter, r *http.Request) {
	if !s.keysOr503(w, r) {
		return
	}
	var in ExternalKeyInput
	if !decodeJSON(w, r, &in) {
		return
	}
	ctx := r.Context()
	en, err := s.Envs.Get(ctx, s.DB, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	d, err := s.decide(r, authz.ManageKeys, authz.Resource{Kind: "environment", ID: en.ID, OrgID: en.OrgID})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if s.XKSPublicURL == "" || s.XKSStorePath == nil {
		writeError(w, r, s.Logger, &fault.Error{Kind: fault.Unavailable, Message: "the XKS proxy's public address is not configured (keyd.xks_public_url)"})
		return
	}
	if _, err := s.Keys.Key(ctx, en.OrgID, in.KeyID); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	akid, secret, err := s.liveXKSCredential(r, en.OrgID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	res, err := s.Vending.CreateExternalKey(ctx, actor(r, d), en.ID, provider.ExternalKeyStoreSpec{Name: "hatoba-" + en.OrgID,
		ProxyURL: s.XKSPublicURL, ProxyPath: s.XKSStorePath(en.OrgID), AccessKeyID: akid, Secret: secret}, in.KeyID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// liveXKSCredential is the tenant's newest live XKS credential and its
// secret, made now when it has none.
func (s *Server) liveXKSCredential(r *http.Request, orgID string) (string, string, error) {
	creds, err := s.Keys.XKSCredentials(r.Context(), orgID)
	if err != nil {
		return "", "", err
	}
	for i := len(creds) - 1; i >= 0; i-- {
		if creds[i].RevokedAt == nil {
			_, secret, _, err := s.Keys.XKSCredential(r.Context(), creds[i].AccessKeyID)
			return creds[i].AccessKeyID, secret, err
		}
	}
	return s.Keys.CreateXKSCredential(r.Context(), principal(r), orgID)
}
