package simcloud

import (
	"fmt"
	"testing"
	"time"
)

func TestSimulatedBackupsAppearDaily(t *testing.T) {
	t.Parallel()
	made := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		at       time.Time
		wantMost int // backups in most buckets
	}{
		{"ok/none before the lag", made.Add(TenantBackupLag - time.Second), 0},
		{"ok/the first after the lag", made.Add(TenantBackupLag), 1},
		{"ok/one a day", made.Add(3*24*time.Hour + TenantBackupLag), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counts := map[int]int{}
			for i := range 200 {
				objs := simulatedBackups(7, fmt.Sprintf("hatoba-backup-env-%016d", i), made, tt.at)
				counts[len(objs)]++
			}
			if counts[tt.wantMost] < 150 {
				t.Fatalf("backups per bucket = %v, want most at %d", counts, tt.wantMost)
			}
			if tt.wantMost > 1 && (counts[0] == 0 || counts[1] == 0) {
				t.Fatalf("backups per bucket = %v: the planted never-started and stopped buckets are missing", counts)
			}
		})
	}
}
