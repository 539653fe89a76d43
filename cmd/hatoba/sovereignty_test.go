package main

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
)

// An environment's ready backup targets are its assessment's backups,
// with the tier of the connection that holds each.
func TestBackupFacts(t *testing.T) {
	tiers := map[string]string{"domestic-2": "domestic", "hyper": "hyperscaler"}
	tierOf := func(name string) string { return tiers[name] }
	locate := func(locs []tenantbackup.Location, err error) func(context.Context, string) ([]tenantbackup.Location, error) {
		return func(_ context.Context, envID string) ([]tenantbackup.Location, error) {
			if envID != "env-1" {
				t.Fatalf("locations asked for %q", envID)
			}
			return locs, err
		}
	}
	for _, tc := range []struct {
		name    string
		locate  func(context.Context, string) ([]tenantbackup.Location, error)
		want    []sovereignty.Backup
		wantErr bool
	}{
		{"no tenants' backups", nil, nil, false},
		{"no target", locate([]tenantbackup.Location{}, nil), nil, false},
		{"one target on the domestic tier", locate([]tenantbackup.Location{{Provider: "domestic-2", Region: "jp-east-1", Jurisdiction: "JP"}}, nil),
			[]sovereignty.Backup{{Connection: "domestic-2", Tier: "domestic", Country: "JP"}}, false},
		{"a connection no longer configured", locate([]tenantbackup.Location{{Provider: "gone", Jurisdiction: "JP"}}, nil),
			[]sovereignty.Backup{{Connection: "gone", Country: "JP"}}, false},
		{"the store fails", locate(nil, errors.New("disk on fire")), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := backupFacts(context.Background(), "env-1", tc.locate, tierOf)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("backups = %+v, want %+v", got, tc.want)
			}
		})
	}
}
