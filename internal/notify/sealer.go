package notify

import (
	"context"
	"fmt"

	"github.com/hatoba-cloud/hatoba/internal/keys"
)

// Sealer encrypts and decrypts channel secrets (URLs, signing keys); aad
// binds a ciphertext to its channel, so a row copied to another channel
// does not decrypt.
type Sealer interface {
	Seal(ctx context.Context, aad string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, aad string, sealed []byte) ([]byte, error)
}

// KeyID is the platform key channel secrets are encrypted under.
const KeyID = "hatoba-notify"

// KeyService seals through the key service under the platform's key, like
// hatoba's other secrets (internal/secrets): a sealed key service stops
// deliveries as it stops everything else.
type KeyService struct{ Keys *keys.Service }

const metaLen, ivLen, tagLen = 5, 12, 16

func (k KeyService) Seal(ctx context.Context, aad string, plaintext []byte) ([]byte, error) {
	if err := k.Keys.EnsurePlatformKey(ctx, KeyID); err != nil {
		return nil, fmt.Errorf("seal channel secret: %w", err)
	}
	c, err := k.Keys.Encrypt(ctx, keys.PlatformOrg, KeyID, plaintext, []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("seal channel secret: %w", err)
	}
	out := make([]byte, 0, len(c.Metadata)+len(c.IV)+len(c.Ciphertext)+len(c.Tag))
	return append(append(append(append(out, c.Metadata...), c.IV...), c.Ciphertext...), c.Tag...), nil
}

func (k KeyService) Open(ctx context.Context, aad string, b []byte) ([]byte, error) {
	if len(b) < metaLen+ivLen+tagLen {
		return nil, fmt.Errorf("open channel secret: the stored value is damaged")
	}
	v, err := k.Keys.Decrypt(ctx, keys.PlatformOrg, KeyID, keys.Ciphertext{Metadata: b[:metaLen], IV: b[metaLen : metaLen+ivLen],
		Ciphertext: b[metaLen+ivLen : len(b)-tagLen], Tag: b[len(b)-tagLen:]}, []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("open channel secret: %w", err)
	}
	return v, nil
}
