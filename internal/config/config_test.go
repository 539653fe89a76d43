package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "hatoba.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:9000\nlog_level: debug\nvending:\n  job_timeout: 45s\nsimcloud:\n  latency: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HATOBA_LOG_LEVEL": "warn", "HATOBA_SIMCLOUD_LATENCY": "5s", "HATOBA_DATABASE_URL": "postgres://x/y"}
	cfg, err := Load(file, func(k string) string { return env[k] }, map[string]string{"simcloud.latency": "7s", "providers.sim.cap": "3"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"ok/default survives", cfg.Vending.DefaultQuota, 20},
		{"ok/file over default", cfg.Listen, "127.0.0.1:9000"},
		{"ok/file duration", cfg.Vending.JobTimeout, 45 * time.Second},
		{"ok/env over file", cfg.LogLevel, "warn"},
		{"ok/env over default", cfg.DatabaseURL, "postgres://x/y"},
		{"ok/flag over env", cfg.SimCloud.Latency, 7 * time.Second},
		{"ok/flag addresses a provider", cfg.Providers[0].Cap, 3},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	none := func(string) string { return "" }
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		flags   map[string]string
		wantErr string
	}{
		{"fail/unknown key in file", write("a.yaml", "listn: x\n"), nil, nil, "field listn not found"},
		{"fail/bad duration in env", "", map[string]string{"HATOBA_VENDING_JOB_TIMEOUT": "soon"}, nil, "HATOBA_VENDING_JOB_TIMEOUT"},
		{"fail/unknown flag key", "", nil, map[string]string{"vending.nope": "1"}, "unknown setting"},
		{"fail/bad log level", "", nil, map[string]string{"log_level": "loud"}, "log_level"},
		{"fail/unknown provider", "", nil, map[string]string{"providers.gcp.cap": "1"}, `no provider connection named "gcp"`},
		{"fail/template without id", "", nil, map[string]string{"providers.sim.email_template": "a@b.c"}, "{id}"},
		{"fail/no workers", "", nil, map[string]string{"vending.workers": "0"}, "vending.workers"},
		{"fail/negative intake", "", map[string]string{"HATOBA_VENDING_INTAKE_CONCURRENCY": "-1"}, nil, "vending.intake_concurrency"},
		{"fail/retry_max below retry_base", "", nil, map[string]string{"vending.retry_max": "1s", "vending.retry_base": "2s"}, "vending.retry_max"},
		{"fail/missing file", filepath.Join(dir, "missing.yaml"), nil, nil, "config file"},
		{"fail/plain http public url", "", nil, map[string]string{"identity.public_url": "http://hatoba.example.go.jp"}, "identity.public_url"},
		{"fail/long-lived token", "", nil, map[string]string{"identity.token_ttl": "24h"}, "identity.token_ttl"},
		{"fail/cert without key", "", nil, map[string]string{"identity.tls_cert_file": "server.pem"}, "tls_key_file"},
		{"fail/zero break-glass", "", nil, map[string]string{"identity.break_glass_max": "0s"}, "identity.break_glass_max"},
		{"fail/origin with a plus", "", nil, map[string]string{"audit.origin": "a+b"}, "origin"},
		{"fail/openstack without keystone", "", nil, map[string]string{"providers.sim.driver": "openstack"}, "auth_url and domain"},
		{"fail/openstack with a plain secret", write("os.yaml", openstackYAML("hunter2")), nil, nil, "secret:NAME"},
		{"fail/unknown driver", "", nil, map[string]string{"providers.sim.driver": "gcp"}, "known: aws, openstack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := none
			if tt.env != nil {
				getenv = func(k string) string { return tt.env[k] }
			}
			_, err := Load(tt.file, getenv, tt.flags)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaultsAreValid(t *testing.T) {
	t.Parallel()
	cfg, err := Load("", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != "./hatoba.db" || cfg.Listen != "127.0.0.1:8443" || !cfg.SimCloud.Embedded || cfg.Providers[0].Endpoint != "embedded" {
		t.Fatalf("defaults changed: %+v", cfg)
	}
}

// A list setting comes from the environment as a comma-separated value.
func TestListFromEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HATOBA_IDENTITY_CLIENT_CA_FILES": "a.pem,b.pem"}
	cfg, err := Load("", func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Identity.ClientCAFiles, "|"); got != "a.pem|b.pem" {
		t.Fatalf("client_ca_files = %q", got)
	}
}

// TestMetricsExposure: /metrics is on the loopback by default; anywhere
// else, or on the main listener, only behind a long enough token.
func TestMetricsExposure(t *testing.T) {
	t.Parallel()
	token := strings.Repeat("t", minMetricsToken)
	tests := []struct {
		name    string
		flags   map[string]string
		env     map[string]string
		wantErr string // "" when valid
	}{
		{"ok/the default loopback listener", nil, nil, ""},
		{"ok/IPv6 loopback", map[string]string{"metrics.listen": "[::1]:9464"}, nil, ""},
		{"ok/localhost", map[string]string{"metrics.listen": "localhost:0"}, nil, ""},
		{"ok/all interfaces with a token", map[string]string{"metrics.listen": "0.0.0.0:9464"}, map[string]string{"HATOBA_METRICS_TOKEN": token}, ""},
		{"ok/main listener with a token", map[string]string{"metrics.listen": "", "metrics.token": token}, nil, ""},
		{"fail/all interfaces without a token", map[string]string{"metrics.listen": "0.0.0.0:9464"}, nil, "metrics.listen"},
		{"fail/no host without a token", map[string]string{"metrics.listen": ":9464"}, nil, "metrics.listen"},
		{"fail/main listener without a token", map[string]string{"metrics.listen": ""}, nil, "metrics.token"},
		{"fail/short token", map[string]string{"metrics.token": "secret"}, nil, "metrics.token"},
		{"fail/not host:port", map[string]string{"metrics.listen": "9464"}, nil, "metrics.listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load("", func(k string) string { return tt.env[k] }, tt.flags)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want one containing %q (config %+v)", err, tt.wantErr, cfg.Metrics)
			}
		})
	}
}

func openstackYAML(secret string) string {
	return `providers:
  - name: domestic
    driver: openstack
    cap: 5
    email_template: "cloud+{id}@hatoba.example.jp"
    classifications: [level1, level2, level3]
    openstack:
      auth_url: https://keystone.example.jp:5000/v3
      domain: hatoba
      application_credential_id: 0123abcd
      secret: "` + secret + `"
      administrator_roles: [member]
      non_administrator_roles: [reader]
      domestic_regions: [jp-east-1, jp-west-1]
      retention: 720h
`
}

func TestOpenStackProvider(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "os.yaml")
	if err := os.WriteFile(p, []byte(openstackYAML("secret:keystone-appcred")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, pr := range cfg.Providers {
		if pr.Name == "domestic" {
			found = true
			if pr.Driver != "openstack" || pr.OpenStack.Domain != "hatoba" || pr.OpenStack.Secret != "secret:keystone-appcred" ||
				len(pr.OpenStack.DomesticRegions) != 2 || pr.OpenStack.NonAdministratorRoles[0] != "reader" {
				t.Fatalf("openstack connection = %+v", pr)
			}
		}
	}
	if !found {
		t.Fatal("the openstack connection was not loaded")
	}
}

func TestPlacement(t *testing.T) {
	t.Parallel()
	body := `placement:
  rules:
    level3: [domestic]
    level2: [domestic, hyperscaler]
` + openstackYAML("secret:keystone-appcred")
	p := filepath.Join(t.TempDir(), "placement.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	domestic := cfg.Providers[0]
	if domestic.TierOf() != TierDomestic {
		t.Fatalf("an openstack connection's tier = %q", domestic.TierOf())
	}
	if got := cfg.Placement.Rules["level3"]; len(got) != 1 || got[0] != TierDomestic {
		t.Errorf("placement.rules.level3 = %v", got)
	}
	aws := Provider{Name: "aws", Driver: "aws"}
	if aws.TierOf() != TierHyperscaler {
		t.Errorf("an aws connection's tier = %q", aws.TierOf())
	}
	aws.Tier = TierDomestic // an operator may declare otherwise
	if aws.TierOf() != TierDomestic {
		t.Errorf("declared domestic: %q", aws.TierOf())
	}
	onBreach := filepath.Join(t.TempDir(), "on_breach.yaml")
	if err := os.WriteFile(onBreach, []byte("placement:\n  on_breach: ignore\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(onBreach, func(string) string { return "" }, nil); err == nil || !strings.Contains(err.Error(), "placement.on_breach") {
		t.Fatalf("an unknown on_breach: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("placement:\n  rules:\n    level3: [offshore]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad, func(string) string { return "" }, nil); err == nil || !strings.Contains(err.Error(), "placement.rules.level3") {
		t.Fatalf("an unknown tier: %v", err)
	}
}

// Backups are off without an endpoint; with one, a bucket, a lock mode,
// a day's retention at least and schedules of an hour at least.
func TestBackupSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sets map[string]string
		bad  string
	}{
		{"ok/off", nil, ""},
		{"ok/on", map[string]string{"backup.endpoint": "https://s3.example.go.jp"}, ""},
		{"ok/no-schedule", map[string]string{"backup.endpoint": "https://s3.example.go.jp", "backup.interval": "0s", "backup.drill_interval": "0s"}, ""},
		{"fail/endpoint", map[string]string{"backup.endpoint": "s3.example.go.jp"}, "backup.endpoint"},
		{"fail/bucket", map[string]string{"backup.endpoint": "https://s3.example.go.jp", "backup.bucket": ""}, "backup.bucket"},
		{"fail/lock-mode", map[string]string{"backup.endpoint": "https://s3.example.go.jp", "backup.lock_mode": "NONE"}, "backup.lock_mode"},
		{"fail/retention", map[string]string{"backup.endpoint": "https://s3.example.go.jp", "backup.retention": "1h"}, "backup.retention"},
		{"fail/interval", map[string]string{"backup.endpoint": "https://s3.example.go.jp", "backup.interval": "5m"}, "backup.interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("", func(string) string { return "" }, tc.sets)
			if tc.bad == "" && err != nil {
				t.Fatal(err)
			}
			if tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)) {
				t.Fatalf("Load = %v, want an error naming %s", err, tc.bad)
			}
		})
	}
}
