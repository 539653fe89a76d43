package openstack

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// Keystone's limits on names and tags.
const (
	maxProjectName = 64
	maxTag         = 255
)

var tagEscaper = strings.NewReplacer("%", "%25", "/", "%2F", ",", "%2C")

// escapeTag makes s acceptable in a Keystone tag, which may hold neither
// "/" nor ",".
func escapeTag(s string) string { return tagEscaper.Replace(s) }

var tagUnescaper = strings.NewReplacer("%2F", "/", "%2C", ",", "%25", "%")

func unescapeTag(s string) string { return tagUnescaper.Replace(s) }

// keyValueTag is the tag "key=value", cut to Keystone's 255 characters
// without splitting a character or an escape.
func keyValueTag(k, v string) string {
	t := escapeTag(k) + "=" + escapeTag(v)
	if utf8.RuneCountInString(t) <= maxTag {
		return t
	}
	r := []rune(t)[:maxTag]
	for i := len(r) - 1; i >= len(r)-2; i-- {
		if r[i] == '%' { // an escape needs three characters
			r = r[:i]
			break
		}
	}
	return string(r)
}

// emailTag marks an environment's project with the e-mail vending derives
// from the environment id, by which FindAccount finds it after a crash.
func emailTag(email string) string { return tagEmailKey + escapeTag(strings.ToLower(email)) }

// unitName is the project name of the unit at path: the path itself when
// it fits Keystone's 64 characters, else its last element cut short with a
// hash of the whole path, so that two units of the same name under
// different parents never share a name.
func unitName(path []string) string {
	full := "unit:" + strings.Join(path, "/")
	if utf8.RuneCountInString(full) <= maxProjectName {
		return full
	}
	sum := sha256.Sum256([]byte(strings.Join(path, "/")))
	suffix := "~" + hex.EncodeToString(sum[:6])
	last := []rune("unit:" + path[len(path)-1])
	if room := maxProjectName - utf8.RuneCountInString(suffix); len(last) > room {
		last = last[:room]
	}
	return string(last) + suffix
}

// callCounter counts HTTP requests to the cloud.
type callCounter struct{ n atomic.Int64 }

type countingTransport struct {
	next http.RoundTripper
	n    *callCounter
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.n.Add(1)
	return t.next.RoundTrip(r)
}
