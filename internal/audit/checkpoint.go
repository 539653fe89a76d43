package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Checkpoint is a signed statement of the log's state: its origin, its size
// and the root of the Merkle tree of its first Size entries.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
	// Note is the signed note: the checkpoint text, a blank line and the
	// signature line. nil for the empty tree, which nothing signs.
	Note []byte
}

// emptyRoot is the RFC 6962 root of the empty tree: SHA-256 of nothing.
var emptyRoot = func() []byte { h := sha256.Sum256(nil); return h[:] }()

// checkpointText is the C2SP tlog-checkpoint body that is signed:
// "<origin>\n<size>\n<base64 root>\n".
func checkpointText(origin string, size uint64, root []byte) []byte {
	b := make([]byte, 0, len(origin)+70)
	b = append(b, origin...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, size, 10)
	b = append(b, '\n')
	b = base64.StdEncoding.AppendEncode(b, root)
	return append(b, '\n')
}

// sigLen is a stored signature's length: the 4-byte key hash of the note
// format and a 64-byte Ed25519 signature.
const sigLen = 4 + 64

// sign returns the stored form of signer's signature over the checkpoint.
func sign(signer note.Signer, origin string, size uint64, root []byte) ([]byte, error) {
	sig, err := signer.Sign(checkpointText(origin, size, root))
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint %d: %w", size, err)
	}
	out := make([]byte, 4, sigLen)
	binary.BigEndian.PutUint32(out, signer.KeyHash())
	return append(out, sig...), nil
}

// checkSig reports whether stored is v's valid signature of the checkpoint.
func checkSig(v note.Verifier, origin string, size uint64, root, stored []byte) bool {
	if len(stored) != sigLen || binary.BigEndian.Uint32(stored) != v.KeyHash() {
		return false
	}
	return v.Verify(checkpointText(origin, size, root), stored[4:])
}

// signedNote assembles the signed note from a checkpoint and a stored
// signature: the same bytes note.Sign would produce. The key's name is the
// origin.
func signedNote(origin string, size uint64, root, stored []byte) []byte {
	var b bytes.Buffer
	b.Write(checkpointText(origin, size, root))
	b.WriteString("\n— ")
	b.WriteString(origin)
	b.WriteByte(' ')
	b.WriteString(base64.StdEncoding.EncodeToString(stored))
	b.WriteByte('\n')
	return b.Bytes()
}

// ParseCheckpoint opens a signed checkpoint note (outside input: a saved
// file, a bundle) with the log's verifier. It must carry a valid signature by
// that key, and its origin must be the key's name.
func ParseCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	if len(msg) > 64<<10 {
		return Checkpoint{}, fault.Invalidf("checkpoint: %d bytes is too long for a checkpoint", len(msg))
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, fault.Invalidf("checkpoint: no signature by the log's key %s", v.Name())
		case errors.As(err, &invalid):
			return Checkpoint{}, fault.Invalidf("checkpoint: the signature by %s does not verify: the checkpoint was altered or forged", v.Name())
		}
		return Checkpoint{}, fault.Invalidf("checkpoint: %v", err)
	}
	// note.Open decodes signatures leniently; the padding bits of the
	// base64 could then change without changing the signature. Require the
	// canonical encoding, so a checkpoint has exactly one valid form.
	for _, sig := range n.Sigs {
		if _, err := base64.StdEncoding.Strict().DecodeString(sig.Base64); err != nil {
			return Checkpoint{}, fault.Invalidf("checkpoint: the signature by %s is not in canonical base64", sig.Name)
		}
	}
	c, err := parseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fault.Invalidf("checkpoint: origin %q is not the log's %q", clip(c.Origin), v.Name())
	}
	c.Note = append([]byte(nil), msg...)
	return c, nil
}

// parseCheckpointText reads "<origin>\n<size>\n<base64 root>\n", then any
// extension lines, which C2SP allows and hatoba does not write.
func parseCheckpointText(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, fault.Invalidf("checkpoint: want origin, size and root lines")
	}
	origin, sizeText, rootText := lines[0], lines[1], lines[2]
	if origin == "" {
		return Checkpoint{}, fault.Invalidf("checkpoint: empty origin")
	}
	size, err := strconv.ParseUint(sizeText, 10, 64)
	if err != nil || (len(sizeText) > 1 && sizeText[0] == '0') {
		return Checkpoint{}, fault.Invalidf("checkpoint: size %q is not a decimal number", clip(sizeText))
	}
	root, err := base64.StdEncoding.Strict().DecodeString(rootText)
	if err != nil || len(root) != sha256.Size {
		return Checkpoint{}, fault.Invalidf("checkpoint: root %q is not a base64 SHA-256 hash", clip(rootText))
	}
	return Checkpoint{Origin: origin, Size: size, Root: root}, nil
}
