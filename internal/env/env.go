// Package env owns environments: one provider account for one named system
// of one organisation, its lifecycle states, the approval rules and the SQL.
// The vending package drives environments through their steps.
package env

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// State is where an environment is in its life.
type State string

const (
	Requested    State = "requested"    // waiting for a central operator's decision
	Approved     State = "approved"     // approved, waiting for a vending worker
	Provisioning State = "provisioning" // steps are running
	Ready        State = "ready"        // the account is usable
	Rejected     State = "rejected"     // an operator said no, with a reason
	Failed       State = "failed"       // a step failed permanently; retry is possible
	Closing      State = "closing"      // the account is being closed
	Closed       State = "closed"
)

// States lists every state in lifecycle order.
var States = []State{Requested, Approved, Provisioning, Ready, Rejected, Failed, Closing, Closed}

// Live reports whether the environment still holds or will hold an account.
func (s State) Live() bool { return s != Rejected && s != Closed }

// Purpose is what an environment is for.
type Purpose string

const (
	Production  Purpose = "production"
	Staging     Purpose = "staging"
	Development Purpose = "development"
)

var Purposes = []Purpose{Production, Staging, Development}

// Classification is the confidentiality level of the data a system holds,
// as in the Japanese government's unified standards (機密性1–3): level3 is
// the most sensitive.
type Classification string

const (
	Level1 Classification = "level1" // 機密性1: public information
	Level2 Classification = "level2" // 機密性2: internal, not secret
	Level3 Classification = "level3" // 機密性3: secret
)

var Classifications = []Classification{Level1, Level2, Level3}

// Environment is one provider account owned by one organisation for one system.
type Environment struct {
	ID             string         `json:"id"`
	OrgID          string         `json:"org_id"`
	SystemName     string         `json:"system_name"`
	Purpose        Purpose        `json:"purpose"`
	Classification Classification `json:"classification"`
	Provider       string         `json:"provider"`
	State          State          `json:"state"`
	StateReason    string         `json:"state_reason,omitempty"`
	ApprovalNotes  string         `json:"approval_notes,omitempty"`
	AccountID      string         `json:"account_id,omitempty"`
	AccountEmail   string         `json:"account_email"`
	UnitPath       string         `json:"unit_path,omitempty"`
	RequestedBy    string         `json:"requested_by,omitempty"`
	DecidedBy      string         `json:"decided_by,omitempty"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
	ReadyAt        *time.Time     `json:"ready_at,omitempty"`
}

// Request is what a tenant asks for.
type Request struct {
	OrgID          string         `json:"org_id"`
	SystemName     string         `json:"system_name"`
	Purpose        Purpose        `json:"purpose"`
	Classification Classification `json:"classification"`
	Provider       string         `json:"provider"`
	RequestedBy    string         `json:"-"`
}

// Principal is who the request's Idempotency-Key belongs to: the person
// who asked. RequestedBy is "<person> under <grant>" when an operator asks
// under break-glass; the grant is left out, so one person's keys are one
// namespace whichever grant they used.
func (r Request) Principal() string {
	person, _, _ := strings.Cut(r.RequestedBy, " under ")
	return person
}

// Validate checks the request's own fields; the organisation and provider
// are checked against the registry by the caller.
func (r Request) Validate() error {
	switch {
	case strings.TrimSpace(r.OrgID) == "":
		return fault.InvalidField("org_id", "org_id is required")
	case strings.TrimSpace(r.SystemName) == "":
		return fault.InvalidField("system_name", "system_name is required")
	case utf8.RuneCountInString(r.SystemName) > 40:
		return fault.InvalidField("system_name", "system_name is %d characters; at most 40 are allowed", utf8.RuneCountInString(r.SystemName))
	case !utf8.ValidString(r.SystemName) || strings.ContainsFunc(r.SystemName, func(c rune) bool { return unicode.IsControl(c) || unicode.Is(unicode.Cf, c) }):
		// Invisible format characters (U+202E, U+200B …) would show a name
		// other than the one stored, in every listing and audit entry.
		return fault.InvalidField("system_name", "system_name must not contain control or invisible format characters")
	case !oneOf(r.Purpose, Purposes):
		return fault.InvalidField("purpose", "purpose %q is not one of production, staging, development", r.Purpose)
	case !oneOf(r.Classification, Classifications):
		return fault.InvalidField("classification", "classification %q is not one of level1, level2, level3", r.Classification)
	}
	return nil
}

// idPattern is the shape of NewID's ids.
var idPattern = regexp.MustCompile(`^env-[0-9a-v]{16}$`)

// ValidID reports whether s has the shape of an environment id.
func ValidID(s string) bool { return idPattern.MatchString(s) }

func oneOf[T comparable](v T, set []T) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// NewID returns a new environment id: "env-" and 16 characters of base32
// in its sort-preserving "extended hex" alphabet (0-9, a-v), whose first part
// is the creation time, so ids sort by age as strings. (The standard base32
// alphabet, A-Z then 2-7, would not: digits sort before letters.)
func NewID(now time.Time) string {
	var b [10]byte
	binary.BigEndian.PutUint32(b[:4], uint32(now.Unix()))
	_, _ = rand.Read(b[4:])
	return "env-" + strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
