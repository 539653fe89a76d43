package keyd

import (
	"bytes"
	"testing"
)

// The plain encryption API's decoding of outside input: any body and any
// ciphertext blob is refused or taken apart without a panic, and a blob
// taken apart packs back to itself.
func FuzzPlainDecoding(f *testing.F) {
	f.Add([]byte(`{"key_id":"k1","plaintext":"aGVsbG8=","aad":"eA=="}`), []byte("\x01\x00\x00\x00\x01abcdefghijklmnopqrstuvwxyz0123456789"))
	f.Add([]byte(`{"key_id":1}`), []byte{})
	f.Fuzz(func(t *testing.T, body, blob []byte) {
		var in PlainDecryptRequest
		_ = decodePlain(body, &in)
		c, err := unpackCiphertext(blob)
		if err != nil {
			return
		}
		if len(c.IV) != 12 || len(c.Tag) != 16 || len(c.Metadata) != metadataLen {
			t.Fatalf("unpacked %d/%d/%d", len(c.IV), len(c.Tag), len(c.Metadata))
		}
		if !bytes.Equal(packCiphertext(c), blob) {
			t.Fatal("pack(unpack(b)) != b")
		}
	})
}
