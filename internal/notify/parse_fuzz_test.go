package notify_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/notify"
)

func seeds(f *testing.F, glob string) {
	files, _ := filepath.Glob(filepath.Join("testdata", glob))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"detail":{"findings":[{}]}}`))
	f.Add([]byte(`null`))
}

// Whatever arrives at the ingestion endpoint, the parser answers findings
// that name an account, a resource and a known severity — or an invalid
// error, never a panic or another kind of error.
func FuzzParseASFF(f *testing.F) {
	seeds(f, "asff-*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		ps, err := notify.ParseASFF(body)
		check(t, ps, err)
	})
}

func FuzzParseOCSF(f *testing.F) {
	seeds(f, "ocsf-*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		ps, err := notify.ParseOCSF(body)
		check(t, ps, err)
	})
}

func check(t *testing.T, ps []notify.Parsed, err error) {
	if err != nil {
		if fault.KindOf(err) != fault.Invalid {
			t.Fatalf("error of kind %s: %v", fault.KindOf(err), err)
		}
		return
	}
	if len(ps) == 0 || len(ps) > notify.MaxIngestFindings {
		t.Fatalf("%d findings", len(ps))
	}
	for _, p := range ps {
		if p.AccountID == "" || p.ResourceID == "" || p.SourceID == "" || p.Severity.Rank() < 0 || p.ControlID == "" {
			t.Fatalf("finding %+v", p)
		}
	}
}

// The samples in testdata parse to what they say.
func TestParseSamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		parse    func([]byte) ([]notify.Parsed, error)
		n        int
		account  string
		severity string
		resolved bool
	}{
		{"asff-eventbridge.json", notify.ParseASFF, 2, "123456789012", "critical", false},
		{"asff-archived.json", notify.ParseASFF, 1, "123456789012", "high", true},
		{"ocsf-detection.json", notify.ParseOCSF, 1, "123456789012", "critical", false},
		{"ocsf-hatoba.json", notify.ParseOCSF, 1, "123456789012", "medium", true},
	}
	for _, tc := range tests {
		t.Run("ok/"+tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			ps, err := tc.parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != tc.n || ps[0].AccountID != tc.account || string(ps[0].Severity) != tc.severity || ps[0].Resolved != tc.resolved {
				t.Fatalf("parsed %+v", ps)
			}
		})
	}
	for _, bad := range []string{`{"source":"aws.guardduty","detail":{"findings":[{"Id":"x"}]}}`, `{"Findings":[{"Id":"x","AwsAccountId":"1","Resources":[{"Id":"r"}],"Severity":{"Label":"SEVERE"}}]}`} {
		if _, err := notify.ParseASFF([]byte(bad)); fault.KindOf(err) != fault.Invalid {
			t.Errorf("ParseASFF(%s) = %v", bad, err)
		}
	}
	if _, err := notify.ParseOCSF([]byte(`{"class_uid":3002,"severity_id":5}`)); fault.KindOf(err) != fault.Invalid {
		t.Errorf("an authentication event parsed as a finding: %v", err)
	}
}
