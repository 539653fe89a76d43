package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"gopkg.in/yaml.v3"
)

// A manifest is signed as a signed note (the audit log's format and key)
// whose text names the backup and the manifest's SHA-256:
//
//	hatoba-backup/1
//	<id>
//	sha256 <hex>
//
// The manifest in turn carries the SHA-256 of every object, so one
// signature covers the whole backup.

func signedText(id string, manifest []byte) string {
	sum := sha256.Sum256(manifest)
	return Format + "\n" + id + "\nsha256 " + hex.EncodeToString(sum[:]) + "\n"
}

func signManifest(s note.Signer, id string, manifest []byte) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("sign manifest: no signing key")
	}
	return note.Sign(&note.Note{Text: signedText(id, manifest)}, s)
}

// checkSignature verifies sig over manifest for backup id.
func checkSignature(v note.Verifier, id string, manifest, sig []byte) error {
	n, err := note.Open(sig, note.VerifierList(v))
	if err != nil {
		return refused(ReasonSignature, "the manifest's signature does not verify with the audit log's key %s: %v", v.Name(), err)
	}
	if n.Text != signedText(id, manifest) {
		return refused(ReasonChecksum, "the manifest does not match its signed checksum (the manifest was altered, or the signature is another backup's)")
	}
	return nil
}

func newBytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// RedactConfig renders a configuration (any value YAML encodes) without
// its secrets: a field whose name says secret or password, or is or ends
// in token or pin, is
// emptied unless it is a reference to hatoba's secret store ("secret:…"),
// and a database URL loses its password.
func RedactConfig(cfg any) ([]byte, error) {
	var node yaml.Node
	if err := node.Encode(cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	redactNode(&node)
	return yaml.Marshal(&node)
}

func redactNode(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind == yaml.ScalarNode && v.Value != "" {
				name := strings.ToLower(k.Value)
				switch {
				case strings.HasPrefix(v.Value, "secret:"):
				case strings.Contains(name, "secret") || strings.Contains(name, "password") ||
					name == "token" || strings.HasSuffix(name, "_token") || name == "pin" || strings.HasSuffix(name, "_pin"):
					v.Value, v.Tag, v.Style = "(redacted)", "!!str", 0
				case strings.HasSuffix(name, "url"):
					v.Value = redactURL(v.Value)
				}
			}
		}
	}
	for _, c := range n.Content {
		redactNode(c)
	}
}

// redactURL drops the password of a URL's user information.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	at := strings.LastIndex(rest, "@")
	slash := strings.Index(rest, "/")
	if at < 0 || (slash >= 0 && at > slash) {
		return s
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return s
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}
