package backup

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The data part is sealed with AES-256-GCM under a fresh data key, in
// chunks, so neither side holds the whole backup in memory:
//
//	repeat: uint32 length (big-endian) ‖ GCM(chunk)
//
// The nonce is the chunk's number (11 bytes) and a last-chunk flag (1
// byte); the data key is used for this one backup only, so the nonces never
// repeat under a key. The additional data is the backup's id. A reordered,
// dropped or appended chunk, or a stream cut short, fails to open.

const sealChunk = 1 << 20

type sealWriter struct {
	w     io.Writer
	aead  cipher.AEAD
	aad   []byte
	buf   []byte
	n     uint64
	out   []byte
	final bool
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func newSealWriter(w io.Writer, key, aad []byte) (*sealWriter, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &sealWriter{w: w, aead: a, aad: aad, buf: make([]byte, 0, sealChunk)}, nil
}

func chunkNonce(n uint64, last bool) []byte {
	nonce := make([]byte, 12)
	binary.BigEndian.PutUint64(nonce[3:11], n)
	if last {
		nonce[11] = 1
	}
	return nonce
}

func (s *sealWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		// A full chunk is sealed only when more follows, so the last
		// chunk (flagged) is never empty unless the stream is.
		if len(s.buf) == sealChunk {
			if err := s.flush(false); err != nil {
				return written, err
			}
		}
		k := copy(s.buf[len(s.buf):sealChunk], p)
		s.buf = s.buf[:len(s.buf)+k]
		p = p[k:]
		written += k
	}
	return written, nil
}

func (s *sealWriter) flush(last bool) error {
	s.out = s.aead.Seal(append(s.out[:0], 0, 0, 0, 0), chunkNonce(s.n, last), s.buf, s.aad)
	binary.BigEndian.PutUint32(s.out[:4], uint32(len(s.out)-4))
	s.n++
	s.buf = s.buf[:0]
	_, err := s.w.Write(s.out)
	return err
}

// Close seals the last chunk.
func (s *sealWriter) Close() error {
	if s.final {
		return nil
	}
	s.final = true
	return s.flush(true)
}

type openReader struct {
	r     io.Reader
	aead  cipher.AEAD
	aad   []byte
	n     uint64
	plain []byte
	done  bool
	hdr   [4]byte
	ct    []byte
}

// errSealed says the sealed part does not open: wrong key or altered data.
var errSealed = errors.New("the sealed data does not open with this key (altered, cut short or another backup's)")

func newOpenReader(r io.Reader, key, aad []byte) (*openReader, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	return &openReader{r: r, aead: a, aad: aad}, nil
}

func (o *openReader) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		if o.done {
			return 0, io.EOF
		}
		if _, err := io.ReadFull(o.r, o.hdr[:]); err != nil {
			return 0, errSealed
		}
		size := binary.BigEndian.Uint32(o.hdr[:])
		if size < uint32(o.aead.Overhead()) || size > sealChunk+uint32(o.aead.Overhead()) {
			return 0, errSealed
		}
		o.ct = append(o.ct[:0], make([]byte, size)...)
		if _, err := io.ReadFull(o.r, o.ct); err != nil {
			return 0, errSealed
		}
		// Try as a middle chunk, then as the last one.
		plain, err := o.aead.Open(o.plain[:0], chunkNonce(o.n, false), o.ct, o.aad)
		if err != nil {
			if plain, err = o.aead.Open(o.plain[:0], chunkNonce(o.n, true), o.ct, o.aad); err != nil {
				return 0, errSealed
			}
			o.done = true
			var extra [1]byte
			if n, _ := o.r.Read(extra[:]); n > 0 {
				return 0, errSealed // bytes after the last chunk
			}
		}
		o.n++
		o.plain = plain
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}
