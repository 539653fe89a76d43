package org

import (
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// NormalizeLGCode returns the six-digit local-government code
// (全国地方公共団体コード) in s, or an Invalid error on field "lg_code" that
// says what is wrong.
//
// The code is five digits — two for the prefecture, three for the
// municipality — and a check digit: with weights 6, 5, 4, 3, 2 on the five
// digits, the check digit is the last digit of 11 − (sum mod 11); that is,
// (11 − sum mod 11) mod 10. Every code in the embedded data obeys it.
//
// Spaces around the code are ignored, full-width digits (０–９) are read as
// digits, and a five-digit s is taken as a six-digit code whose leading zero
// was dropped, as spreadsheets do: "10006" is 北海道's "010006".
func NormalizeLGCode(s string) (string, error) {
	raw := s
	s = strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return '0' + (r - '０')
		}
		return r
	}, strings.TrimSpace(s))
	if s == "" {
		return "", fault.InvalidField("lg_code", "lg_code is empty; it must be 6 digits (5 digits and a check digit)")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", fault.InvalidField("lg_code", "lg_code %q must contain digits only", raw)
		}
	}
	switch len(s) {
	case 6:
	case 5:
		padded := "0" + s
		if padded[5] != checkDigit(padded[:5]) {
			// More likely a five-digit code without its check digit.
			return "", fault.InvalidField("lg_code",
				"lg_code %q has 5 digits: read as %s with the leading zero dropped, its check digit should be %c; if %s is the code without its check digit, the full code is %s",
				raw, padded, checkDigit(padded[:5]), s, s+string(checkDigit(s)))
		}
		s = padded
	default:
		return "", fault.InvalidField("lg_code",
			"lg_code %q has %d digits; it must have 6 (5 digits and a check digit), or 5 when a leading zero was dropped", raw, len(s))
	}
	if want := checkDigit(s[:5]); s[5] != want {
		return "", fault.InvalidField("lg_code",
			"lg_code %q has the wrong check digit: for %s it must be %c (%s%c), not %c", raw, s[:5], want, s[:5], want, s[5])
	}
	return s, nil
}

// checkDigit returns the check digit of the five ASCII digits in five.
func checkDigit(five string) byte {
	sum := 0
	for i, w := range [5]int{6, 5, 4, 3, 2} {
		sum += int(five[i]-'0') * w
	}
	return byte('0' + (11-sum%11)%10)
}
