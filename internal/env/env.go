// Package env owns environments: one provider account for one named system
// of one organisation, its lifecycle states, the approval rules and the SQL.
// The vending package drives environments through their steps.
package env

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
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
	// Backup asks for a backup target: a bucket with Object Lock on the
	// domestic tier at another provider (docs/backup.md, "Tenants'
	// backups").
	Backup      bool   `json:"backup,omitempty"`
	RequestedBy string `json:"-"`
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
// are checked against the registry by the caller. It reports every
// invalid field at once (a *ValidationError), so a form can mark them all
// after one submit.
func (r Request) Validate() error {
	var v ValidationError
	if strings.TrimSpace(r.OrgID) == "" {
		v.add("org_id", "required", nil, "org_id is required")
	}
	switch n := utf8.RuneCountInString(r.SystemName); {
	case strings.TrimSpace(r.SystemName) == "":
		v.add("system_name", "required", nil, "system_name is required")
	case n > MaxSystemName:
		v.add("system_name", "too_long", []any{n, MaxSystemName}, "system_name is %d characters; at most %d are allowed", n, MaxSystemName)
	case !utf8.ValidString(r.SystemName) || strings.ContainsFunc(r.SystemName, func(c rune) bool { return unicode.IsControl(c) || unicode.Is(unicode.Cf, c) }):
		// Invisible format characters (U+202E, U+200B …) would show a name
		// other than the one stored, in every listing and audit entry.
		v.add("system_name", "invisible", nil, "system_name must not contain control or invisible format characters")
	}
	if !oneOf(r.Purpose, Purposes) {
		if r.Purpose == "" {
			v.add("purpose", "choose", nil, "purpose is required: production, staging or development")
		} else {
			v.add("purpose", "choose", nil, "purpose %q is not one of production, staging, development", r.Purpose)
		}
	}
	if !oneOf(r.Classification, Classifications) {
		if r.Classification == "" {
			v.add("classification", "choose", nil, "classification is required: level1, level2 or level3")
		} else {
			v.add("classification", "choose", nil, "classification %q is not one of level1, level2, level3", r.Classification)
		}
	}
	if len(v.Fields) > 0 {
		return &v
	}
	return nil
}

// MaxSystemName is the longest system name, in characters.
const MaxSystemName = 40

// FieldError is one invalid field of a request. Message is English, for
// the API and the logs; Reason and Args say the same for a page to put
// in its reader's language, next to the field's label ("required",
// "too_long" with the length and the limit, "invisible", "choose").
type FieldError struct {
	Field   string `json:"name"`
	Message string `json:"reason"`
	Reason  string `json:"-"`
	Args    []any  `json:"-"`
}

// ValidationError is every invalid field of a request, in the form's
// order. It unwraps to a fault of kind Invalid naming the first, so a
// caller that knows only faults sees what it saw before.
type ValidationError struct {
	Fields []FieldError
}

func (v *ValidationError) add(field, reason string, args []any, format string, fargs ...any) {
	v.Fields = append(v.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, fargs...), Reason: reason, Args: args})
}

func (v *ValidationError) Error() string {
	msgs := make([]string, len(v.Fields))
	for i, f := range v.Fields {
		msgs[i] = f.Message
	}
	return strings.Join(msgs, "; ")
}

// Unwrap is the first field's fault.
func (v *ValidationError) Unwrap() error {
	if len(v.Fields) == 0 {
		return fault.Invalidf("the request is not valid")
	}
	return fault.InvalidField(v.Fields[0].Field, "%s", v.Fields[0].Message)
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
