//go:build !cgo

package keys

import (
	"context"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
)

// InitHSM reports ErrNoCgo: PKCS#11 modules are C libraries.
func (s *Service) InitHSM(context.Context, authz.Principal, HSMConfig) error { return ErrNoCgo }

// UnsealHSM reports ErrNoCgo.
func (s *Service) UnsealHSM(context.Context, audit.Acting, HSMConfig) error { return ErrNoCgo }
