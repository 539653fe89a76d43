package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// specVerifyBundle is an independent verifier written from docs/audit.md
// ("A tenant's entries, offline") with the standard library only: if the
// page is wrong, this disagrees with audit.VerifyBundle.
func specVerifyBundle(data []byte, verifierKey string) error {
	// 1. The key: <name>+<hash>+<base64 of 0x01 and the public key>.
	parts := strings.SplitN(verifierKey, "+", 3) // the base64 may hold "+" too
	if len(parts) != 3 {
		return fmt.Errorf("key: want three fields")
	}
	name := parts[0]
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x01 {
		return fmt.Errorf("key: not an Ed25519 key")
	}
	kh := sha256.Sum256(append([]byte(name+"\n"), raw...))
	if hex.EncodeToString(kh[:4]) != parts[1] {
		return fmt.Errorf("key: hash mismatch")
	}
	pub := ed25519.PublicKey(raw[1:])

	var b struct {
		Checkpoint string `json:"checkpoint"`
		Entries    []struct {
			Seq      uint64   `json:"seq"`
			LeafHash string   `json:"leaf_hash"`
			At       string   `json:"at"`
			Actor    string   `json:"actor"`
			Action   string   `json:"action"`
			OrgID    string   `json:"org_id"`
			Target   string   `json:"target"`
			GrantID  string   `json:"grant_id"`
			Details  string   `json:"details"`
			OrgIndex *int64   `json:"org_index"`
			Proof    []string `json:"proof"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}

	// 2. The checkpoint: text up to the last blank line, then signature lines.
	split := strings.LastIndex(b.Checkpoint, "\n\n")
	if split < 0 {
		return fmt.Errorf("checkpoint: no signature block")
	}
	text, sigs := b.Checkpoint[:split+1], b.Checkpoint[split+2:]
	signed := false
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "— "+name+" ")
		if !ok {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(rest)
		if err == nil && len(sig) == 68 && bytes.Equal(sig[:4], kh[:4]) && ed25519.Verify(pub, []byte(text), sig[4:]) {
			signed = true
		}
	}
	if !signed {
		return fmt.Errorf("checkpoint: not signed by the key")
	}
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[0] != name {
		return fmt.Errorf("checkpoint: bad text")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return err
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		return err
	}

	for _, e := range b.Entries {
		// 3. The leaf.
		at, err := time.Parse(time.RFC3339Nano, e.At)
		if err != nil {
			return err
		}
		orgIndex := int64(-1) // the v1 format has no organisation index
		if e.OrgIndex != nil {
			orgIndex = *e.OrgIndex
		}
		h := specLeafHash(e.Seq, at.UnixMicro(), e.Actor, e.Action, e.OrgID, e.Target, e.GrantID, []byte(e.Details), orgIndex)
		if hex.EncodeToString(h) != e.LeafHash || e.Seq >= size {
			return fmt.Errorf("entry %d: leaf hash or seq", e.Seq)
		}
		// 4. The proof (RFC 9162 section 2.1.3.2), as the page writes it.
		fn, sn, r := e.Seq, size-1, h
		for _, ph := range e.Proof {
			p, err := hex.DecodeString(ph)
			if err != nil {
				return err
			}
			if sn == 0 {
				return fmt.Errorf("entry %d: proof too long", e.Seq)
			}
			if fn%2 == 1 || fn == sn {
				r = node(p, r)
				if fn%2 == 0 {
					for fn%2 == 0 && fn != 0 {
						fn >>= 1
						sn >>= 1
					}
				}
			} else {
				r = node(r, p)
			}
			fn >>= 1
			sn >>= 1
		}
		if sn != 0 || !bytes.Equal(r, root) {
			return fmt.Errorf("entry %d: not in the tree", e.Seq)
		}
	}
	return nil
}

func node(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{0x01}, l...), r...))
	return h[:]
}
