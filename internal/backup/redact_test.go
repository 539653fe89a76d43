package backup_test

import (
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/backup"
	"github.com/hatoba-cloud/hatoba/internal/config"
)

// A backup's configuration keeps its settings and loses its secrets.
func TestRedactConfig(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DatabaseURL = "postgres://hatoba:hunter2-db@db.example.go.jp/hatoba"
	cfg.Providers[0].SecretAccessKey = "wJalrXUtnFEMI/K7MDENG"
	cfg.Metrics.Token = "0123456789abcdef0123456789abcdef"
	cfg.Backup.SecretAccessKey = "secret:backup/s3"
	cfg.Keyd.HSMTokenLabel = "hatoba-token"
	out, err := backup.RedactConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, secret := range []string{"hunter2-db", "wJalrXUtnFEMI", "0123456789abcdef"} {
		if strings.Contains(s, secret) {
			t.Errorf("the redacted configuration still holds %q", secret)
		}
	}
	for _, kept := range []string{"postgres://hatoba:xxxxx@db.example.go.jp/hatoba", "secret:backup/s3", "hsm_token_label: hatoba-token",
		"token_ttl: 15m0s", "listen: 127.0.0.1:8443"} {
		if !strings.Contains(s, kept) {
			t.Errorf("the redacted configuration lost %q", kept)
		}
	}
}
