package org

import (
	"context"
	"fmt"
	"strings"
)

// Top-level provider units. Every local government sits in its prefecture's
// unit, so one prefecture's accounts share policies and billing views without
// ~1,900 units.
const (
	UnitNational         = "National"
	UnitQuasiPublic      = "QuasiPublic"
	UnitLocalGovernments = "LocalGovernments"
)

// maxUnitName is the longest AWS organizational-unit name.
const maxUnitName = 128

// UnitPath returns the provider organisational-unit path of o, given its
// ancestors (root first, as Ancestors returns them):
//
//	national body               → National/<English name>
//	quasi-public body           → QuasiPublic
//	prefecture and below it     → LocalGovernments/<prefecture's English name>
//
// Names are printable ASCII of at most 128 characters without "/" (the path
// separator hatoba stores); a body without such an English name is named by
// its id. It returns nil when o is a local government without a prefecture
// among o and its ancestors, or has an unknown kind.
func UnitPath(ancestors []Organization, o Organization) []string {
	switch {
	case o.Kind == KindNational:
		return []string{UnitNational, unitName(o)}
	case o.Kind == KindQuasiPublic:
		return []string{UnitQuasiPublic}
	case !o.Kind.LocalGovernment():
		return nil
	}
	if o.Kind == KindPrefecture {
		return []string{UnitLocalGovernments, unitName(o)}
	}
	for i := len(ancestors) - 1; i >= 0; i-- {
		if ancestors[i].Kind == KindPrefecture {
			return []string{UnitLocalGovernments, unitName(ancestors[i])}
		}
	}
	return nil
}

// unitName is o's English name when it makes a valid unit name, else its id.
func unitName(o Organization) string {
	name := strings.TrimSpace(strings.ReplaceAll(o.NameEn, "/", "-"))
	if name == "" || len(name) > maxUnitName {
		return o.ID
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] > 0x7e {
			return o.ID
		}
	}
	return name
}

// UnitPathFor returns the provider unit path of organisation id.
func (r *Registry) UnitPathFor(ctx context.Context, id string) ([]string, error) {
	o, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	ancestors, err := r.ancestorsOf(ctx, o)
	if err != nil {
		return nil, err
	}
	path := UnitPath(ancestors, o)
	if path == nil {
		return nil, fmt.Errorf("unit path of %s: a %s without a prefecture among its ancestors", o.ID, o.Kind)
	}
	return path, nil
}
