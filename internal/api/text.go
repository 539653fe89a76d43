package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Strings in a JSON request must be text a person sees as it is.
// encoding/json replaces invalid UTF-8 and lone UTF-16 surrogates
// ("\ud800") with U+FFFD without a word, so the stored name would not be
// the one sent; and invisible format characters (Unicode category Cf:
// bidirectional overrides and isolates such as U+202E and U+2066–2069,
// zero-width spaces and joiners, the byte-order mark) make a name display
// as something it is not — an environment called "prod" that reads
// "dorp", two organisations whose names look the same. checkText refuses
// both before the body is decoded, naming the field.

// textError is a string of a request that is not acceptable text.
type textError struct {
	field string // the JSON path: "system_name", "files[2].content"
	msg   string
}

func (e *textError) Error() string { return e.msg }

// textFields names the fields, by shape ("files[].content": any index),
// whose strings may hold format characters: content hatoba only reads and
// never shows as a name, such as the Terraform plans of POST /scan.
// Invalid UTF-8 and lone surrogates are refused there too.
type textFields []string

func (f textFields) allows(shape string) bool {
	for _, s := range f {
		if s == shape {
			return true
		}
	}
	return false
}

// frame is one open object or array on the way down to a value.
type frame struct {
	array   bool
	index   int    // arrays: the next element's index
	key     string // objects: the current member's name
	wantKey bool   // objects: the next string token is a member name
}

// checkText walks body's tokens and returns a *textError for the first
// string (member name or value) that is not acceptable text. A body that is
// not valid JSON is left to the decoder, which says why.
func checkText(body []byte, free textFields) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []frame
	advance := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].wantKey = true
			}
		}
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or a syntax error the decoder reports
		}
		raw := body[start:dec.InputOffset()]
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, frame{wantKey: true})
			case '[':
				stack = append(stack, frame{array: true})
			default:
				stack = stack[:len(stack)-1]
				advance()
			}
		case string:
			if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].wantKey {
				stack[n-1].key, stack[n-1].wantKey = v, false
				display, _ := paths(stack)
				if err := checkString(raw, v, display, false); err != nil {
					return err
				}
				continue
			}
			display, shape := paths(stack)
			if err := checkString(raw, v, display, free.allows(shape)); err != nil {
				return err
			}
			advance()
		default:
			advance()
		}
	}
}

// paths names the value the stack points at: for people
// ("files[2].content") and for textFields ("files[].content").
func paths(stack []frame) (display, shape string) {
	var d, s strings.Builder
	for i, f := range stack {
		if f.array {
			fmt.Fprintf(&d, "[%d]", f.index)
			s.WriteString("[]")
			continue
		}
		if i > 0 {
			s.WriteByte('.')
		}
		s.WriteString(f.key)
		if plainKey(f.key) {
			if i > 0 {
				d.WriteByte('.')
			}
			d.WriteString(f.key)
		} else {
			// A name that is itself the trouble is shown escaped, so the
			// answer does not carry it back.
			d.WriteString("[" + strconv.QuoteToASCII(f.key) + "]")
		}
	}
	return d.String(), s.String()
}

// plainKey reports whether a member name can be shown as it is in a path.
func plainKey(k string) bool {
	if k == "" || !utf8.ValidString(k) {
		return false
	}
	for _, r := range k {
		if !unicode.IsPrint(r) || r == utf8.RuneError || strings.ContainsRune(".[]\"", r) {
			return false
		}
	}
	return true
}

// checkString checks one string token: raw is the input from the end of
// the previous token to the end of this one (separators, white space and
// the quoted string), decoded what encoding/json made of it.
func checkString(raw []byte, decoded, field string, formatAllowed bool) error {
	name := field
	if name == "" {
		name = "the request body"
	}
	if !utf8.Valid(raw) {
		return &textError{field: field, msg: fmt.Sprintf("%s is not valid UTF-8; send text encoded as UTF-8", name)}
	}
	if esc, ok := loneSurrogate(raw); ok {
		return &textError{field: field, msg: fmt.Sprintf("%s holds %s, half of a UTF-16 surrogate pair without its other half, which is no character", name, esc)}
	}
	if formatAllowed {
		return nil
	}
	for i, r := range decoded {
		if unicode.Is(unicode.Cf, r) {
			return &textError{field: field, msg: fmt.Sprintf("%s holds the invisible format character %U at character %d; bidirectional controls, zero-width characters and the like are refused because they make text display as something it is not",
				name, r, utf8.RuneCountInString(decoded[:i])+1)}
		}
	}
	return nil
}

// loneSurrogate finds a \uD800–\uDFFF escape in the quoted string in raw
// that is not a high surrogate followed at once by a low one.
func loneSurrogate(raw []byte) (string, bool) {
	i := bytes.IndexByte(raw, '"')
	if i < 0 {
		return "", false
	}
	s := raw[i+1:]
	hex4 := func(at int) (rune, bool) {
		if at+6 > len(s) || s[at] != '\\' || s[at+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(s[at+2:at+6]), 16, 32)
		return rune(n), err == nil
	}
	for j := 0; j < len(s); j++ {
		if s[j] != '\\' {
			continue
		}
		r, ok := hex4(j)
		if !ok {
			j++ // a two-character escape such as \" or \\
			continue
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if lo, ok := hex4(j + 6); ok && lo >= 0xDC00 && lo < 0xE000 {
				j += 11
				continue
			}
			return string(s[j : j+6]), true
		case r >= 0xDC00 && r < 0xE000:
			return string(s[j : j+6]), true
		}
		j += 5
	}
	return "", false
}
