package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// MaxIngestBody bounds one ingestion request (EventBridge sends at most
// 256 KiB per event; a batch of OCSF findings may be larger).
const MaxIngestBody = 4 << 20

// MaxIngestFindings bounds the findings of one request.
const MaxIngestFindings = 1000

// CreateIngestToken makes (or replaces) orgID's ingestion token — shown
// this once; only its hash is kept.
func (s *Service) CreateIngestToken(ctx context.Context, actor, grantID, orgID string) (string, error) {
	if orgID == Central {
		return "", fault.Invalidf("ingestion tokens belong to an organisation")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("ingest token: %w", err)
	}
	token := "hti_" + base64.RawURLEncoding.EncodeToString(b)
	now := s.now().UTC()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO notify_ingest_tokens (org_id, token_hash, created_by, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id) DO UPDATE SET token_hash = excluded.token_hash, created_by = excluded.created_by, created_at = excluded.created_at`,
			orgID, tokenHash(token), actor, now); err != nil {
			return fmt.Errorf("ingest token: %w", err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: actor, GrantID: grantID, Action: "notify.ingest-token.create", OrgID: orgID, Target: orgID})
	})
	return token, err
}

func tokenHash(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// AuthenticateIngest checks token against orgID's ingestion token, in
// constant time; any mismatch is the same refusal.
func (s *Service) AuthenticateIngest(ctx context.Context, orgID, token string) error {
	refused := fault.Unauthenticatedf("the ingestion token is missing or wrong for this organisation")
	if token == "" {
		return refused
	}
	var stored string
	err := s.db.QueryRowContext(ctx, `SELECT token_hash FROM notify_ingest_tokens WHERE org_id = $1`, orgID).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return refused
	}
	if err != nil {
		return fmt.Errorf("ingest token of %s: %w", orgID, err)
	}
	if subtle.ConstantTimeCompare([]byte(stored), []byte(tokenHash(token))) != 1 {
		return refused
	}
	return nil
}

// Parsed is a finding read from outside, before attribution.
type Parsed struct {
	AccountID string
	Incoming
	// Refs are compliance references ("cis:AWS-3.5", "control:<id>")
	// that may name one of hatoba's controls.
	Refs []string
}

// IngestResult says what became of a request's findings.
type IngestResult struct {
	Received int `json:"received"`
	// Unattributed findings name an account that is no environment of
	// this organisation; they are dropped, never given to another.
	Unattributed int `json:"unattributed"`
	Routed
}

// IngestFrom attributes parsed findings to orgID's environments by
// account id and records them.
func (s *Service) IngestFrom(ctx context.Context, orgID string, parsed []Parsed) (IngestResult, error) {
	res := IngestResult{Received: len(parsed)}
	if s.opts.Accounts == nil {
		return res, fault.Invalidf("no account resolver: ingestion is not available")
	}
	var in []Incoming
	for _, p := range parsed {
		envID, envOrg, err := s.opts.Accounts.EnvironmentOfAccount(ctx, p.AccountID)
		if fault.KindOf(err) == fault.NotFound || err == nil && envOrg != orgID {
			res.Unattributed++
			continue
		}
		if err != nil {
			return res, err
		}
		f := p.Incoming
		f.OrgID, f.EnvID = orgID, envID
		if s.opts.ControlFor != nil {
			if id := s.opts.ControlFor(p.Refs); id != "" {
				f.ControlID = id
			}
		}
		in = append(in, f)
	}
	r, err := s.Ingest(ctx, in)
	res.Routed = r
	return res, err
}

// asffFinding is the part of an AWS Security Finding Format finding hatoba
// reads.
type asffFinding struct {
	ID           string `json:"Id"`
	GeneratorID  string `json:"GeneratorId"`
	AwsAccountID string `json:"AwsAccountId"`
	Title        string `json:"Title"`
	UpdatedAt    string `json:"UpdatedAt"`
	Severity     struct {
		Label string `json:"Label"`
	} `json:"Severity"`
	Resources []struct {
		Type string `json:"Type"`
		ID   string `json:"Id"`
	} `json:"Resources"`
	Compliance struct {
		Status              string   `json:"Status"`
		SecurityControlID   string   `json:"SecurityControlId"`
		RelatedRequirements []string `json:"RelatedRequirements"`
	} `json:"Compliance"`
	Workflow struct {
		Status string `json:"Status"`
	} `json:"Workflow"`
	RecordState   string            `json:"RecordState"`
	ProductFields map[string]string `json:"ProductFields"`
}

// ParseASFF reads Security Hub findings as EventBridge delivers them (an
// event whose detail holds "findings"), or a BatchImportFindings body
// ({"Findings": […]}), or a bare array of findings.
func ParseASFF(body []byte) ([]Parsed, error) {
	var findings []asffFinding
	body = bytes.TrimSpace(body)
	switch {
	case len(body) > 0 && body[0] == '[':
		if err := json.Unmarshal(body, &findings); err != nil {
			return nil, fault.Invalidf("ASFF: %v", err)
		}
	default:
		var env struct {
			Source     string `json:"source"`
			DetailType string `json:"detail-type"`
			Detail     *struct {
				Findings []asffFinding `json:"findings"`
			} `json:"detail"`
			Findings []asffFinding `json:"Findings"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, fault.Invalidf("ASFF: %v", err)
		}
		switch {
		case env.Detail != nil:
			if env.Source != "" && env.Source != "aws.securityhub" {
				return nil, fault.Invalidf("ASFF: the event's source is %q, not aws.securityhub", env.Source)
			}
			findings = env.Detail.Findings
		default:
			findings = env.Findings
		}
	}
	if len(findings) == 0 {
		return nil, fault.Invalidf("ASFF: no findings (an EventBridge event with detail.findings, or {\"Findings\": […]})")
	}
	if len(findings) > MaxIngestFindings {
		return nil, fault.Invalidf("ASFF: at most %d findings per request", MaxIngestFindings)
	}
	out := make([]Parsed, 0, len(findings))
	for i, f := range findings {
		if f.ID == "" || f.AwsAccountID == "" || len(f.Resources) == 0 || f.Resources[0].ID == "" {
			return nil, fault.Invalidf("ASFF finding %d: Id, AwsAccountId and Resources[0].Id are required", i)
		}
		sev, ok := asffSeverity[strings.ToUpper(f.Severity.Label)]
		if !ok {
			return nil, fault.Invalidf("ASFF finding %d: Severity.Label %q is not one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL", i, f.Severity.Label)
		}
		p := Parsed{AccountID: f.AwsAccountID, Incoming: Incoming{Source: SourceASFF, SourceID: clip(f.ID, 512), Severity: sev, Title: f.Title,
			ResourceID: f.Resources[0].ID, ControlID: "asff:" + clip(firstNonEmpty(f.Compliance.SecurityControlID, f.GeneratorID, f.ID), 200),
			Resolved: strings.EqualFold(f.Workflow.Status, "RESOLVED") || strings.EqualFold(f.RecordState, "ARCHIVED") ||
				strings.EqualFold(f.Compliance.Status, "PASSED")}}
		if t, err := time.Parse(time.RFC3339Nano, f.UpdatedAt); err == nil {
			p.At = t
		}
		if id := f.Compliance.SecurityControlID; id != "" {
			p.Refs = append(p.Refs, "securityhub:"+id)
		}
		for _, r := range f.Compliance.RelatedRequirements {
			// "CIS AWS Foundations Benchmark v1.4.0/3.5" → cis:AWS-3.5
			if strings.HasPrefix(r, "CIS AWS Foundations Benchmark") {
				if _, num, ok := strings.Cut(r, "/"); ok {
					p.Refs = append(p.Refs, "cis:AWS-"+num)
				}
			}
		}
		if rule := f.ProductFields["RuleId"]; rule != "" && strings.Contains(f.GeneratorID, "cis-aws-foundations-benchmark") {
			p.Refs = append(p.Refs, "cis:AWS-"+rule)
		}
		out = append(out, p)
	}
	return out, nil
}

var asffSeverity = map[string]controls.Severity{"CRITICAL": controls.Critical, "HIGH": controls.High, "MEDIUM": controls.Medium,
	"LOW": controls.Low, "INFORMATIONAL": controls.Informational}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// ocsfFinding is the part of an OCSF finding (Security 2001, Compliance
// 2003, Detection 2004 …; category 2) hatoba reads.
type ocsfFinding struct {
	ClassUID   int   `json:"class_uid"`
	SeverityID int   `json:"severity_id"`
	StatusID   int   `json:"status_id"`
	Time       int64 `json:"time"`
	Cloud      struct {
		ProjectUID string `json:"project_uid"`
		Account    struct {
			UID string `json:"uid"`
		} `json:"account"`
	} `json:"cloud"`
	FindingInfo struct {
		UID   string `json:"uid"`
		Title string `json:"title"`
	} `json:"finding_info"`
	Compliance struct {
		Control   string   `json:"control"`
		Standards []string `json:"standards"`
		StatusID  int      `json:"status_id"`
	} `json:"compliance"`
	Resources []struct {
		UID  string `json:"uid"`
		Name string `json:"name"`
	} `json:"resources"`
}

// ParseOCSF reads OCSF findings (category 2): one object or an array.
func ParseOCSF(body []byte) ([]Parsed, error) {
	var findings []ocsfFinding
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		if err := json.Unmarshal(body, &findings); err != nil {
			return nil, fault.Invalidf("OCSF: %v", err)
		}
	} else {
		var f ocsfFinding
		if err := json.Unmarshal(body, &f); err != nil {
			return nil, fault.Invalidf("OCSF: %v", err)
		}
		findings = []ocsfFinding{f}
	}
	if len(findings) == 0 || len(findings) > MaxIngestFindings {
		return nil, fault.Invalidf("OCSF: 1 to %d findings per request", MaxIngestFindings)
	}
	out := make([]Parsed, 0, len(findings))
	for i, f := range findings {
		if f.ClassUID/1000 != 2 {
			return nil, fault.Invalidf("OCSF finding %d: class_uid %d is not a finding (2xxx)", i, f.ClassUID)
		}
		account := firstNonEmpty(f.Cloud.Account.UID, f.Cloud.ProjectUID)
		var resource string
		if len(f.Resources) > 0 {
			resource = firstNonEmpty(f.Resources[0].UID, f.Resources[0].Name)
		}
		if f.FindingInfo.UID == "" || account == "" || resource == "" {
			return nil, fault.Invalidf("OCSF finding %d: finding_info.uid, cloud.account.uid (or cloud.project_uid) and resources[0].uid are required", i)
		}
		sev, ok := ocsfSeverity[f.SeverityID]
		if !ok {
			return nil, fault.Invalidf("OCSF finding %d: severity_id %d is not 1 to 6", i, f.SeverityID)
		}
		p := Parsed{AccountID: account, Incoming: Incoming{Source: SourceOCSF, SourceID: clip(f.FindingInfo.UID, 512), Severity: sev,
			Title: f.FindingInfo.Title, ResourceID: resource, ControlID: "ocsf:" + clip(firstNonEmpty(f.Compliance.Control, f.FindingInfo.Title, f.FindingInfo.UID), 200),
			Resolved: f.StatusID == 4 || f.Compliance.StatusID == 1}}
		if f.Time > 0 {
			p.At = time.UnixMilli(f.Time)
		}
		if c := f.Compliance.Control; c != "" {
			p.Refs = append(p.Refs, "control:"+c)
		}
		for _, st := range f.Compliance.Standards {
			if id, ok := strings.CutPrefix(st, "CIS "); ok {
				p.Refs = append(p.Refs, "cis:"+id)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// OCSF severity_id: 1 informational … 5 critical, 6 fatal (critical here).
var ocsfSeverity = map[int]controls.Severity{1: controls.Informational, 2: controls.Low, 3: controls.Medium, 4: controls.High,
	5: controls.Critical, 6: controls.Critical}
