package aws

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// AWS's tag rules (Organizations, and most services): keys of 1–128 and
// values of 0–256 characters matching ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$.
const (
	maxTagKey   = 128
	maxTagValue = 256
	// base64TagSuffix names the tag that keeps, base64-encoded, a value
	// TagValue had to change: "hatoba:system" → "hatoba:system:base64".
	base64TagSuffix = ":base64"
)

// tagRuneOK reports whether AWS allows r in a tag.
func tagRuneOK(r rune) bool {
	return unicode.IsLetter(r) || unicode.In(r, unicode.Z) || unicode.IsNumber(r) || strings.ContainsRune("_.:/=+-@", r)
}

// TagValue maps v to a value AWS accepts: every character outside AWS's
// pattern becomes "_", and the value is cut to 256 characters. A valid
// value is returned unchanged. "住民記録（本番）" → "住民記録_本番_",
// "税・料金" → "税_料金", "A&B" → "A_B".
func TagValue(v string) string {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "_")
	}
	out := strings.Map(func(r rune) rune {
		if tagRuneOK(r) {
			return r
		}
		return '_'
	}, v)
	if utf8.RuneCountInString(out) > maxTagValue {
		out = string([]rune(out)[:maxTagValue])
	}
	return out
}
