package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/baseline"
	"github.com/hatoba-cloud/hatoba/internal/config"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/vending"
	"github.com/spf13/pflag"
	"golang.org/x/mod/sumdb/note"
)

// buildBaselines wires the baseline catalogue: releases signed with the
// audit log's key and scanned with the running catalogue; deployments
// through the environments' provider connections that can run stacks.
func buildBaselines(db *store.DB, envs *env.Store, engine *vending.Engine, catalog *controls.Catalog, signer note.Signer,
	cfg config.Baseline, log *slog.Logger) *baseline.Service {
	return baseline.New(db, envs, baseline.Options{Signer: signer, Engine: catalog.Engine, RefuseAt: controls.Severity(cfg.RefuseAt),
		Logger: log.With("component", "baseline"),
		Stacks: func(name string) (provider.Stacks, bool, bool) {
			cn, ok := engine.Connection(name)
			if !ok {
				return nil, false, false
			}
			st, supported := cn.Provider.(provider.Stacks)
			return st, supported, true
		}})
}

// holdsAdministrator: a deploy session is for the people who hold the
// environment's Administrator permission set, applied at the provider.
func holdsAdministrator(access *envaccess.Service) baseline.HoldsAdministrator {
	return func(ctx context.Context, envID, personID string) (bool, error) {
		a, err := access.Get(ctx, envID, personID)
		if fault.KindOf(err) == fault.NotFound {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return a.PermissionSet == envaccess.Administrator && a.State == envaccess.Applied, nil
	}
}

// cmdBaselineVerify is "hatoba baseline verify --key KEY FILE": a release
// as GET /api/v1/baselines/{product}/versions/{version} returns it, checked
// offline with the platform's public key.
func cmdBaselineVerify(fs *pflag.FlagSet) runFunc {
	key := fs.String("key", "", "the platform's public key, <name>+<hash>+<key> as hatoba audit key prints it")
	return func(_ context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
		if len(args) != 1 || *key == "" {
			return usageError{"baseline verify --key KEY FILE (a release as the API returns it)"}
		}
		raw, err := os.ReadFile(args[0]) //nolint:gosec // G703: the operator names the file on the command line
		if err != nil {
			return err
		}
		return verifyBaseline(raw, *key, stdout)
	}
}

// verifyBaseline checks one release with the public key vkey.
func verifyBaseline(raw []byte, vkey string, stdout io.Writer) error {
	v, err := audit.ParseVerifierKey(vkey)
	if err != nil {
		return err
	}
	rel, err := baseline.ParseRelease(raw)
	if err != nil {
		return err
	}
	m, err := baseline.Verify(rel, v)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "baseline %s %s verified: %s template sha256:%s, %d controls, %d notification rules, published by %s at %s\n",
		m.Product, m.Version, m.Format, m.TemplateSHA256, len(m.Controls), len(m.Notifications), m.PublishedBy, m.PublishedAt.Format("2006-01-02T15:04:05Z"))
	return nil
}
