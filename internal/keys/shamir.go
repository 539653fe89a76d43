package keys

// Shamir secret sharing over GF(2^8), byte by byte, as in Vault's shamir
// package and SLIP-0039's field. It is written here rather than imported:
// the only well-kept Go implementation (hashicorp/vault/shamir) lives
// inside the whole Vault module, which would bring hundreds of packages
// into the binary for some eighty lines. The field arithmetic is done in
// constant time (no table lookups indexed by secret bytes) so that
// combining shares does not leak them through the cache.

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// gfMul multiplies a and b in GF(2^8) with the AES polynomial
// x^8 + x^4 + x^3 + x + 1, without branches on the operands.
func gfMul(a, b byte) byte {
	var p byte
	for range 8 {
		// mask is 0xff when the low bit of b is set.
		p ^= a & -(b & 1)
		hi := -(a >> 7) // 0xff when a's top bit is set
		a = a<<1 ^ 0x1b&hi
		b >>= 1
	}
	return p
}

// gfInv returns the multiplicative inverse of a (a^254); gfInv(0) is 0,
// which callers never ask for.
func gfInv(a byte) byte {
	// a^254 = a^(2+4+8+16+32+64+128) by square and multiply.
	b := gfMul(a, a) // a^2
	r := b
	for range 6 {
		b = gfMul(b, b)
		r = gfMul(r, b)
	}
	return r
}

// shamirShare is one point per secret byte, all at the same x (1..255).
type shamirShare struct {
	x byte
	y []byte
}

// shamirSplit splits secret into n shares, any k of which recover it. Each
// byte of the secret is the constant term of its own random polynomial of
// degree k-1; share i holds the polynomials' values at x = i.
func shamirSplit(secret []byte, n, k int) ([]shamirShare, error) {
	if k < 2 || n < k || n > 255 {
		return nil, fmt.Errorf("shamir: need 2 <= threshold (%d) <= shares (%d) <= 255", k, n)
	}
	if len(secret) == 0 {
		return nil, errors.New("shamir: empty secret")
	}
	coeffs := make([]byte, k-1)
	defer clear(coeffs)
	shares := make([]shamirShare, n)
	for i := range shares {
		shares[i] = shamirShare{x: byte(i + 1), y: make([]byte, len(secret))}
	}
	for j, s := range secret {
		if _, err := rand.Read(coeffs); err != nil {
			return nil, fmt.Errorf("shamir: random coefficients: %w", err)
		}
		// The top coefficient must not be zero, or the polynomial has a
		// lower degree and fewer than k shares would determine it.
		for coeffs[k-2] == 0 {
			if _, err := rand.Read(coeffs[k-2:]); err != nil {
				return nil, fmt.Errorf("shamir: random coefficients: %w", err)
			}
		}
		for i := range shares {
			// Horner: ((c_{k-1} x + c_{k-2}) x + …) x + s.
			x := shares[i].x
			var y byte
			for c := k - 2; c >= 0; c-- {
				y = gfMul(y, x) ^ coeffs[c]
			}
			shares[i].y[j] = gfMul(y, x) ^ s
		}
	}
	return shares, nil
}

// shamirCombine recovers the secret from shares by Lagrange interpolation
// at x = 0. It refuses duplicate x, x = 0 and shares of different lengths;
// it cannot tell a wrong share from a right one — the caller checks the
// result (the master key's check value).
func shamirCombine(shares []shamirShare) ([]byte, error) {
	if len(shares) < 2 {
		return nil, errors.New("shamir: need at least two shares")
	}
	size := len(shares[0].y)
	seen := map[byte]bool{}
	for _, s := range shares {
		if s.x == 0 {
			return nil, errors.New("shamir: a share has x = 0")
		}
		if seen[s.x] {
			return nil, fmt.Errorf("shamir: share %d given twice", s.x)
		}
		seen[s.x] = true
		if len(s.y) != size || size == 0 {
			return nil, errors.New("shamir: shares of different lengths")
		}
	}
	// The Lagrange basis at 0: l_i = prod_{m != i} x_m / (x_m - x_i); in
	// GF(2^8) subtraction is xor.
	basis := make([]byte, len(shares))
	for i, si := range shares {
		num, den := byte(1), byte(1)
		for m, sm := range shares {
			if m == i {
				continue
			}
			num = gfMul(num, sm.x)
			den = gfMul(den, sm.x^si.x)
		}
		basis[i] = gfMul(num, gfInv(den))
	}
	secret := make([]byte, size)
	for j := range secret {
		var v byte
		for i, s := range shares {
			v ^= gfMul(s.y[j], basis[i])
		}
		secret[j] = v
	}
	return secret, nil
}
