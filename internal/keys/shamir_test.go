package keys

import (
	"bytes"
	"crypto/rand"
	"testing"
)

func TestGF(t *testing.T) {
	t.Parallel()
	// Known products in the AES field (FIPS 197 §4.2).
	if got := gfMul(0x57, 0x83); got != 0xc1 {
		t.Fatalf("0x57*0x83 = %#x, want 0xc1", got)
	}
	if got := gfMul(0x57, 0x13); got != 0xfe {
		t.Fatalf("0x57*0x13 = %#x, want 0xfe", got)
	}
	for a := 1; a < 256; a++ {
		if p := gfMul(byte(a), gfInv(byte(a))); p != 1 {
			t.Fatalf("%#x * inv = %#x", a, p)
		}
		for b := 0; b < 256; b += 37 {
			if gfMul(byte(a), byte(b)) != gfMul(byte(b), byte(a)) {
				t.Fatalf("not commutative at %d,%d", a, b)
			}
		}
	}
}

// subsets calls fn with every k-element subset of 0..n-1.
func subsets(n, k int, fn func([]int)) {
	idx := make([]int, 0, k)
	var rec func(start int)
	rec = func(start int) {
		if len(idx) == k {
			fn(append([]int(nil), idx...))
			return
		}
		for i := start; i < n; i++ {
			idx = append(idx, i)
			rec(i + 1)
			idx = idx[:len(idx)-1]
		}
	}
	rec(0)
}

func TestShamirSplitCombine(t *testing.T) {
	t.Parallel()
	tests := []struct{ n, k int }{
		{2, 2}, {3, 2}, {3, 3}, {5, 3}, {6, 4}, {7, 7}, {10, 5}, {255, 2}, {20, 20},
	}
	for _, tt := range tests {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			t.Fatal(err)
		}
		shares, err := shamirSplit(secret, tt.n, tt.k)
		if err != nil {
			t.Fatalf("split %d/%d: %v", tt.k, tt.n, err)
		}
		check := func(idx []int) {
			sub := make([]shamirShare, len(idx))
			for i, j := range idx {
				sub[i] = shares[j]
			}
			got, err := shamirCombine(sub)
			if err != nil {
				t.Fatalf("combine %v of %d/%d: %v", idx, tt.k, tt.n, err)
			}
			if !bytes.Equal(got, secret) {
				t.Fatalf("combine %v of %d/%d: wrong secret", idx, tt.k, tt.n)
			}
		}
		if tt.n <= 10 {
			// Any k of n recover it, and so do more than k.
			subsets(tt.n, tt.k, check)
			if tt.k < tt.n {
				subsets(tt.n, tt.k+1, check)
			}
		} else {
			// The first k, the last k, and all of them.
			first, last, all := []int{}, []int{}, []int{}
			for i := range tt.n {
				all = append(all, i)
				if i < tt.k {
					first = append(first, i)
				}
				if i >= tt.n-tt.k {
					last = append(last, i)
				}
			}
			check(first)
			check(last)
			check(all)
		}
		// k-1 shares give something else (with overwhelming probability).
		if tt.k > 2 {
			sub := shares[:tt.k-1]
			got, err := shamirCombine(sub)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got, secret) {
				t.Fatalf("%d/%d: k-1 shares recovered the secret", tt.k, tt.n)
			}
		}
	}
}

// TestShamirThresholdHidesSecret checks the structural property that makes
// k-1 shares worthless: for any k-1 shares and any candidate secret byte
// there is exactly one polynomial of degree k-1 through them, so every
// candidate is equally consistent. Concretely, for fixed k-1 share values
// at fixed x, the interpolated constant term takes all 256 values as the
// missing k-th share ranges over 256 values.
func TestShamirThresholdHidesSecret(t *testing.T) {
	t.Parallel()
	secret := []byte{0x42}
	shares, err := shamirSplit(secret, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[byte]bool{}
	for v := range 256 {
		forged := shamirShare{x: shares[2].x, y: []byte{byte(v)}}
		got, err := shamirCombine([]shamirShare{shares[0], shares[1], forged})
		if err != nil {
			t.Fatal(err)
		}
		seen[got[0]] = true
	}
	if len(seen) != 256 {
		t.Fatalf("with two of three shares fixed, the secret takes %d values; want all 256", len(seen))
	}
	// The top coefficient is never zero, so the shares themselves are not
	// the secret (a degree-0 polynomial would make every share equal it).
	for range 200 {
		s, err := shamirSplit(secret, 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		if s[0].y[0] == secret[0] {
			t.Fatal("a share equals the secret: the polynomial had degree 0")
		}
	}
}

func TestShamirRefuses(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{7}, 32)
	shares, err := shamirSplit(secret, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		shares []shamirShare
	}{
		{"fail/duplicate", []shamirShare{shares[0], shares[1], shares[0]}},
		{"fail/x zero", []shamirShare{shares[0], {x: 0, y: shares[1].y}, shares[2]}},
		{"fail/lengths differ", []shamirShare{shares[0], {x: 9, y: shares[1].y[:31]}, shares[2]}},
		{"fail/one share", shares[:1]},
		{"fail/empty", []shamirShare{{x: 1}, {x: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := shamirCombine(tt.shares); err == nil {
				t.Fatal("combine accepted bad shares")
			}
		})
	}
	for _, nk := range [][2]int{{1, 1}, {3, 1}, {2, 3}, {256, 2}, {0, 0}} {
		if _, err := shamirSplit(secret, nk[0], nk[1]); err == nil {
			t.Fatalf("split %d/%d accepted", nk[1], nk[0])
		}
	}
	if _, err := shamirSplit(nil, 3, 2); err == nil {
		t.Fatal("split of an empty secret accepted")
	}
}
