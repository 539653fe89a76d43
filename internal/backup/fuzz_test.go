package backup

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// A row value survives its JSON form exactly, and no input makes the
// decoder panic.
func FuzzValue(f *testing.F) {
	for _, s := range []string{`null`, `true`, `12`, `"x"`, `{"b":"AAE="}`, `{"t":"2026-12-01T09:00:00.123456Z"}`, `{"f":"1.5"}`, `{"q":1}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := decodeValue(json.RawMessage(raw))
		if err != nil {
			return
		}
		enc, err := encodeValue(nil, v)
		if err != nil {
			return // NaN and infinities are refused on the way in
		}
		back, err := decodeValue(enc)
		if err != nil {
			t.Fatalf("%s → %v → %s does not decode: %v", raw, v, enc, err)
		}
		var a, b bytes.Buffer
		canonical(&a, v, make([]byte, 8))
		canonical(&b, back, make([]byte, 8))
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("%s → %#v → %s → %#v", raw, v, enc, back)
		}
	})
}

// The sealed stream opens only what its key sealed, whole: any change,
// cut or addition fails instead of yielding other plaintext.
func FuzzSealed(f *testing.F) {
	f.Add([]byte("hatoba"), uint16(3), byte(1))
	f.Add(bytes.Repeat([]byte{7}, sealChunk+10), uint16(0), byte(0))
	key := bytes.Repeat([]byte{1}, 32)
	f.Fuzz(func(t *testing.T, plain []byte, at uint16, flip byte) {
		var sealed bytes.Buffer
		w, err := newSealWriter(&sealed, key, []byte("id"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(plain)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, _ := newOpenReader(bytes.NewReader(sealed.Bytes()), key, []byte("id"))
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("round trip: %v", err)
		}
		b := bytes.Clone(sealed.Bytes())
		if flip == 0 {
			b = b[:int(at)%len(b)] // cut short
		} else {
			b[int(at)%len(b)] ^= flip
		}
		r, _ = newOpenReader(bytes.NewReader(b), key, []byte("id"))
		if _, err := io.ReadAll(r); err == nil {
			t.Fatal("an altered stream opened")
		}
	})
}
