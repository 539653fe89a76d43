// Package org is the organisation registry: Japan's national bodies,
// quasi-public bodies, 47 prefectures and ~1,900 municipalities and wards,
// their hierarchy, billing contacts and quota overrides, and the rule that maps
// an organisation onto a provider's organisational units.
//
// Local governments are keyed by their official local-government code
// (全国地方公共団体コード, see NormalizeLGCode): id "lg-131016" is 千代田区.
// National bodies are "nat-<slug>" and quasi-public bodies "qp-<slug>", the
// slug usually being the body's go.jp host name or English abbreviation
// (nat-digital, nat-mic, qp-jlis).
package org

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Kind is the kind of an organisation.
type Kind string

const (
	KindNational    Kind = "national"     // a ministry, agency or commission of the state
	KindPrefecture  Kind = "prefecture"   // 都道府県
	KindCity        Kind = "city"         // 市
	KindTown        Kind = "town"         // 町
	KindVillage     Kind = "village"      // 村
	KindSpecialWard Kind = "special_ward" // 特別区: Tokyo's 23 wards
	KindCityWard    Kind = "city_ward"    // 行政区: a ward of a designated city, e.g. 札幌市 中央区
	KindQuasiPublic Kind = "quasi_public" // an incorporated administrative agency or joint body, e.g. J-LIS
)

// Kinds lists every kind, in the order of the hierarchy.
var Kinds = []Kind{KindNational, KindPrefecture, KindCity, KindTown, KindVillage, KindSpecialWard, KindCityWard, KindQuasiPublic}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// LocalGovernment reports whether k is a prefecture or a municipality; those
// have an lg code and the id "lg-<code>".
func (k Kind) LocalGovernment() bool {
	switch k {
	case KindPrefecture, KindCity, KindTown, KindVillage, KindSpecialWard, KindCityWard:
		return true
	}
	return false
}

// Contact is an organisation's billing contact.
type Contact struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
}

// Organization is one body in the registry.
type Organization struct {
	ID        string    `json:"id"`
	Kind      Kind      `json:"kind"`
	LGCode    string    `json:"lg_code,omitempty"`
	NameJa    string    `json:"name_ja"`
	NameKana  string    `json:"name_kana"`
	NameEn    string    `json:"name_en"`
	ParentID  string    `json:"parent_id,omitempty"`
	Billing   Contact   `json:"billing"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// maxName bounds names and contact fields, in characters.
const maxName = 200

// A billing contact's limits are the strictest of the providers' that take
// it (AWS's Account API, PutAlternateContact): a contact is checked when it
// is stored, not refused by the provider after an account exists.
const (
	maxContactName = 64
	maxPhone       = 25
)

// contactEmail is the Account API's pattern for an alternate contact's
// address.
var contactEmail = regexp.MustCompile(`^[\w+=.#|!&-]+@[\w.-]+\.[\w]+$`)

var slugID = regexp.MustCompile(`^(nat|qp)-[a-z0-9]+(-[a-z0-9]+)*$`)

// lgID is a local government's id: "lg-" and its six-digit code.
var lgID = regexp.MustCompile(`^lg-[0-9]{6}$`)

// ValidID reports whether s has the shape of an organisation id ("lg-"
// and a six-digit code, or "nat-"/"qp-" and a slug of at most 64
// characters), so a filter naming something else is refused rather than
// matching nothing.
func ValidID(s string) bool {
	return lgID.MatchString(s) || len(s) <= 64 && slugID.MatchString(s)
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// validate checks o's own fields and returns it normalised: names trimmed with
// inner white space collapsed, the lg code in six digits, and the id of a
// local government derived from its code when empty. Parent rules need the
// parent and are checked by checkParent.
func validate(o Organization) (Organization, error) {
	if !o.Kind.Valid() {
		return o, fault.InvalidField("kind", "kind %q is not one of %s", o.Kind, kindList())
	}
	var err error
	if o.NameJa, err = cleanText("name_ja", o.NameJa); err != nil {
		return o, err
	}
	if o.NameJa == "" {
		return o, fault.InvalidField("name_ja", "name_ja (the Japanese name) is required")
	}
	if o.NameKana, err = cleanText("name_kana", o.NameKana); err != nil {
		return o, err
	}
	if o.NameEn, err = cleanText("name_en", o.NameEn); err != nil {
		return o, err
	}
	o.ID = strings.TrimSpace(o.ID)
	o.ParentID = strings.TrimSpace(o.ParentID)
	if o.LGCode = strings.TrimSpace(o.LGCode); o.LGCode != "" {
		if o.LGCode, err = NormalizeLGCode(o.LGCode); err != nil {
			return o, err
		}
	}
	switch {
	case o.Kind.LocalGovernment():
		if o.LGCode == "" {
			return o, fault.InvalidField("lg_code", "a %s needs its local-government code (lg_code)", o.Kind)
		}
		if pref := o.LGCode[:2]; pref < "01" || pref > "47" {
			return o, fault.InvalidField("lg_code", "lg_code %s starts with %s, which is not a prefecture number from 01 to 47", o.LGCode, pref)
		}
		if isPref := o.LGCode[2:5] == "000"; isPref != (o.Kind == KindPrefecture) {
			if isPref {
				return o, fault.InvalidField("lg_code", "lg_code %s is a prefecture's code (…000…), not a %s's", o.LGCode, o.Kind)
			}
			return o, fault.InvalidField("lg_code", "lg_code %s is a municipality's code; a prefecture's has 000 after the prefecture number", o.LGCode)
		}
		want := "lg-" + o.LGCode
		if o.ID == "" {
			o.ID = want
		}
		if o.ID != want {
			return o, fault.InvalidField("id", "the id of the %s with lg_code %s must be %q, not %q", o.Kind, o.LGCode, want, o.ID)
		}
	default:
		prefix := "nat-"
		if o.Kind == KindQuasiPublic {
			prefix = "qp-"
		}
		if o.Kind == KindNational && o.LGCode != "" {
			return o, fault.InvalidField("lg_code", "a national body has no local-government code")
		}
		if o.ID == "" {
			return o, fault.InvalidField("id", "a %s body needs an id like %q", o.Kind, prefix+"example")
		}
		if len(o.ID) > 64 || !strings.HasPrefix(o.ID, prefix) || !slugID.MatchString(o.ID) {
			return o, fault.InvalidField("id", "the id of a %s body must be %q followed by lower-case letters, digits and single hyphens (at most 64 characters), not %q", o.Kind, prefix, o.ID)
		}
	}
	if o.ParentID != "" && o.ParentID == o.ID {
		return o, fault.InvalidField("parent_id", "%s cannot be its own parent", o.ID)
	}
	if o.Billing, err = validateContact(o.Billing, "billing."); err != nil {
		return o, err
	}
	return o, nil
}

// checkParent enforces the shape of the hierarchy; parent is nil when o has
// none.
func checkParent(o Organization, parent *Organization) error {
	need := func(kinds ...Kind) error {
		for _, k := range kinds {
			if parent != nil && parent.Kind == k {
				return nil
			}
		}
		if parent == nil {
			return fault.InvalidField("parent_id", "a %s needs a parent (a %s)", o.Kind, kinds[0])
		}
		return fault.InvalidField("parent_id", "the parent of a %s must be a %s, but %s is a %s", o.Kind, kinds[0], parent.ID, parent.Kind)
	}
	samePrefecture := func() error {
		if len(parent.LGCode) != 6 || parent.LGCode[:2] != o.LGCode[:2] {
			return fault.InvalidField("parent_id", "lg_code %s is in prefecture %s, but parent %s (%s) is in prefecture %s",
				o.LGCode, o.LGCode[:2], parent.ID, parent.NameJa, prefix2(parent.LGCode))
		}
		return nil
	}
	switch o.Kind {
	case KindPrefecture:
		if parent != nil {
			return fault.InvalidField("parent_id", "a prefecture has no parent")
		}
	case KindCity, KindTown, KindVillage, KindSpecialWard:
		if err := need(KindPrefecture); err != nil {
			return err
		}
		if o.Kind == KindSpecialWard && o.LGCode[:2] != "13" {
			return fault.InvalidField("kind", "special wards exist only in 東京都 (lg codes 13…), not in prefecture %s", o.LGCode[:2])
		}
		return samePrefecture()
	case KindCityWard:
		if err := need(KindCity); err != nil {
			return err
		}
		return samePrefecture()
	case KindNational:
		if parent != nil {
			return need(KindNational)
		}
	}
	return nil
}

// cleanText trims s, collapses runs of white space (including the full-width
// space) to one space, and rejects text a database or a person cannot use.
func cleanText(field, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fault.InvalidField(field, "%s is not valid UTF-8", field)
	}
	s = strings.Join(strings.Fields(s), " ")
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return "", fault.InvalidField(field, "%s contains a control character (%U)", field, r)
		}
		// Bidirectional overrides, zero-width characters and the like make
		// a name display as something it is not.
		if unicode.Is(unicode.Cf, r) {
			return "", fault.InvalidField(field, "%s contains the invisible format character %U", field, r)
		}
	}
	if n := utf8.RuneCountInString(s); n > maxName {
		return "", fault.InvalidField(field, "%s is %d characters long; at most %d are allowed", field, n, maxName)
	}
	return s, nil
}

// validateContact checks a billing contact. A contact is empty (none: the
// configured default is used) or complete: a name and an e-mail address,
// the phone optional. Half a contact — a phone without a name, a name
// without an address — would reach the provider as a contact nobody can
// use.
func validateContact(c Contact, prefix string) (Contact, error) {
	var err error
	c.Phone = strings.TrimSpace(c.Phone)
	if c.Name, err = cleanText(prefix+"name", c.Name); err != nil {
		return c, err
	}
	if n := utf8.RuneCountInString(c.Name); n > maxContactName {
		return c, fault.InvalidField(prefix+"name", "a billing contact's name is %d characters long; providers take at most %d", n, maxContactName)
	}
	if c.Email = strings.TrimSpace(c.Email); c.Email != "" {
		a, perr := mail.ParseAddress(c.Email)
		if perr != nil || a.Name != "" || a.Address != c.Email || len(c.Email) > 254 {
			return c, fault.InvalidField(prefix+"email", "%q is not an e-mail address like billing@city.example.lg.jp", c.Email)
		}
		// The contact reaches the provider after the account exists; an
		// address it refuses (AWS's Account API takes only ASCII letters,
		// digits and _+=.#|!&- before the @) would fail vending then.
		if !contactEmail.MatchString(c.Email) {
			return c, fault.InvalidField(prefix+"email", "%q: providers take an address of ASCII letters, digits and _+=.#|!&- before the @ (no other characters)", c.Email)
		}
	}
	if c != (Contact{}) {
		if c.Name == "" {
			return c, fault.InvalidField(prefix+"name", "a billing contact needs a name (the contact is empty, or has a name and an e-mail address)")
		}
		if c.Email == "" {
			return c, fault.InvalidField(prefix+"email", "a billing contact needs an e-mail address (the contact is empty, or has a name and an e-mail address)")
		}
	}
	if c.Phone != "" {
		digits := 0
		for _, r := range c.Phone {
			switch {
			case r >= '0' && r <= '9':
				digits++
			case strings.ContainsRune("+-() ", r):
			default:
				return c, fault.InvalidField(prefix+"phone", "phone %q may contain only digits, spaces and + - ( )", c.Phone)
			}
		}
		if digits < 4 || len(c.Phone) > maxPhone {
			return c, fault.InvalidField(prefix+"phone", "phone %q must have at least 4 digits and at most %d characters", c.Phone, maxPhone)
		}
	}
	return c, nil
}

// prefectureID is the id of prefecture number pid (1–47).
func prefectureID(pid int) string {
	five := fmt.Sprintf("%02d000", pid)
	return "lg-" + five + string(checkDigit(five))
}

func prefix2(code string) string {
	if len(code) < 2 {
		return "(none)"
	}
	return code[:2]
}
