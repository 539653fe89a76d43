package simcloud

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// IAM Identity Center's asynchronous side: account assignments (creation
// and deletion) and permission set provisioning are IN_PROGRESS when the
// call answers and settle later — by time, like account creation, so a
// restarted simulated cloud carries on — and what each permission set
// grants: AWS managed policies, an inline policy and a permissions
// boundary. Every change to a set raises its revision; an account holds
// the revision provisioned to it last, so a set changed and never
// provisioned again is visible (Stats.PermissionSetsNotProvisioned), as
// is a set that grants nothing (Stats.PermissionSetsWithoutPolicies).

// AssignmentTransientFailure is the reason AWS gives an account
// assignment it could not make yet, most often on an account created
// minutes before; trying again later succeeds.
const AssignmentTransientFailure = "Obtaining permissions to manage your AWS account. Please try again in a few minutes."

// Identity Center's limits on what a permission set carries.
const (
	maxManagedPoliciesPerSet = 10
	maxInlinePolicyChars     = 32768
)

var (
	reManagedPolicyARN = regexp.MustCompile(`^arn:(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b):iam::aws:policy((/[A-Za-z0-9\.,\+@=_-]+)*)/[A-Za-z0-9\.,\+@=_-]+$`)
	rePolicyName       = regexp.MustCompile(`^[\w+=,.@-]+$`)
	rePolicyPath       = regexp.MustCompile(`^((/[A-Za-z0-9\.,\+@=_-]+)*)/$`)
)

// isWrite reports whether an Identity Center operation changes something,
// which is what ConflictRate applies to.
func isWrite(op string) bool {
	for _, p := range []string{"Create", "Delete", "Put", "Attach", "Detach", "Provision"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// injectedConflict is the ConflictException AWS answers when the write
// collides with one not yet propagated or still running — not a
// duplicate.
func injectedConflict(svc *service) error {
	if svc.signingName == "identitystore" {
		return &apiError{Status: 400, Code: "ConflictException", Message: "a concurrent modification is in progress; try again",
			Extra: map[string]string{"Reason": "CONCURRENT_MODIFICATION"}}
	}
	return &apiError{Status: 400, Code: "ConflictException",
		Message: "Operation is in progress or a previous change has not propagated yet; try again"}
}

func (s *Server) identityCenterStats(ctx context.Context, tx *sql.Tx, st *Stats) error {
	for _, q := range []struct {
		dst   *int
		query string
	}{
		{&st.AssignmentsInProgress, `SELECT COUNT(*) FROM assignment_operations WHERE status = 'IN_PROGRESS'`},
		{&st.PermissionSetsWithoutPolicies, `SELECT COUNT(*) FROM permission_sets p WHERE NOT EXISTS
			(SELECT 1 FROM permission_set_policies q WHERE q.arn = p.arn AND q.kind IN ('managed', 'inline'))`},
		{&st.PermissionSetsNotProvisioned, `SELECT COUNT(DISTINCT pp.arn) FROM permission_set_provisioned pp
			LEFT JOIN permission_set_revisions r ON r.arn = pp.arn WHERE pp.revision < COALESCE(r.revision, 0)`},
	} {
		if err := tx.QueryRowContext(ctx, q.query).Scan(q.dst); err != nil {
			return err
		}
	}
	return nil
}

func currentRevision(ctx context.Context, tx *sql.Tx, arn string) (int64, error) {
	var rev int64
	err := tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT revision FROM permission_set_revisions WHERE arn = ?), 0)`, arn).Scan(&rev)
	return rev, err
}

// changed raises a permission set's revision: every account it was
// provisioned to now holds an older one until it is provisioned again.
func changed(ctx context.Context, tx *sql.Tx, arn string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO permission_set_revisions (arn, revision) VALUES (?, 1)
		ON CONFLICT (arn) DO UPDATE SET revision = revision + 1`, arn)
	return err
}

func provisionTo(ctx context.Context, tx *sql.Tx, account, arn string) error {
	rev, err := currentRevision(ctx, tx, arn)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO permission_set_provisioned (account_id, arn, revision) VALUES (?, ?, ?)
		ON CONFLICT (account_id, arn) DO UPDATE SET revision = excluded.revision`, account, arn, rev)
	return err
}

// settleIdentityCenter finishes the assignment and provisioning operations
// whose time has come, in the order they were made.
func (s *Server) settleIdentityCenter(ctx context.Context, tx *sql.Tx) error {
	now := s.cfg.Now().UnixNano()
	type op struct {
		id, kind, account, arn, ptype, pid string
		fails                              bool
	}
	ops, err := queryAll(ctx, tx, func(rows *sql.Rows) (op, error) {
		var o op
		return o, rows.Scan(&o.id, &o.kind, &o.account, &o.arn, &o.ptype, &o.pid, &o.fails)
	}, `SELECT id, kind, account_id, permission_set_arn, principal_type, principal_id, fails FROM assignment_operations
		WHERE status = 'IN_PROGRESS' AND completes_at <= ? ORDER BY completes_at, rowid`, now)
	if err != nil {
		return fmt.Errorf("settle assignments: %w", err)
	}
	for _, o := range ops {
		if o.fails {
			if _, err := tx.ExecContext(ctx, `UPDATE assignment_operations SET status = 'FAILED', failure_reason = ? WHERE id = ?`,
				AssignmentTransientFailure, o.id); err != nil {
				return err
			}
			continue
		}
		switch o.kind {
		case "CREATE":
			if _, err := tx.ExecContext(ctx, `INSERT INTO assignments (account_id, permission_set_arn, principal_type, principal_id) VALUES (?, ?, ?, ?)
				ON CONFLICT DO NOTHING`, o.account, o.arn, o.ptype, o.pid); err != nil {
				return err
			}
			// A new assignment provisions the set's latest revision to the account.
			if err := provisionTo(ctx, tx, o.account, o.arn); err != nil {
				return err
			}
		case "DELETE":
			if _, err := tx.ExecContext(ctx, `DELETE FROM assignments WHERE account_id = ? AND permission_set_arn = ? AND principal_type = ? AND principal_id = ?`,
				o.account, o.arn, o.ptype, o.pid); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM permission_set_provisioned WHERE account_id = ? AND arn = ?
				AND NOT EXISTS (SELECT 1 FROM assignments WHERE account_id = ? AND permission_set_arn = ?)`, o.account, o.arn, o.account, o.arn); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE assignment_operations SET status = 'SUCCEEDED' WHERE id = ?`, o.id); err != nil {
			return err
		}
	}
	type prov struct{ id, arn, targetType, target string }
	provs, err := queryAll(ctx, tx, func(rows *sql.Rows) (prov, error) {
		var p prov
		return p, rows.Scan(&p.id, &p.arn, &p.targetType, &p.target)
	}, `SELECT id, arn, target_type, target_id FROM provisioning_operations WHERE status = 'IN_PROGRESS' AND completes_at <= ? ORDER BY completes_at, rowid`, now)
	if err != nil {
		return fmt.Errorf("settle provisioning: %w", err)
	}
	for _, p := range provs {
		accounts := []string{p.target}
		if p.targetType == "ALL_PROVISIONED_ACCOUNTS" {
			if accounts, err = queryAll(ctx, tx, scanString, `SELECT account_id FROM permission_set_provisioned WHERE arn = ?`, p.arn); err != nil {
				return err
			}
		}
		for _, a := range accounts {
			if err := provisionTo(ctx, tx, a, p.arn); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE provisioning_operations SET status = 'SUCCEEDED' WHERE id = ?`, p.id); err != nil {
			return err
		}
	}
	return nil
}

type assignmentStatus struct {
	RequestId        string  `json:"RequestId"`
	Status           string  `json:"Status"`
	FailureReason    string  `json:"FailureReason,omitempty"`
	TargetId         string  `json:"TargetId"`
	TargetType       string  `json:"TargetType"`
	PermissionSetArn string  `json:"PermissionSetArn"`
	PrincipalType    string  `json:"PrincipalType"`
	PrincipalId      string  `json:"PrincipalId"`
	CreatedDate      float64 `json:"CreatedDate"`
}

type assignmentInput struct {
	InstanceArn      *string `json:"InstanceArn"`
	PermissionSetArn *string `json:"PermissionSetArn"`
	PrincipalId      *string `json:"PrincipalId"`
	PrincipalType    *string `json:"PrincipalType"`
	TargetId         *string `json:"TargetId"`
	TargetType       *string `json:"TargetType"`
}

func (s *Server) checkAssignment(ctx context.Context, tx *sql.Tx, in []byte) (assignmentInput, error) {
	var req assignmentInput
	if err := decode(in, &req); err != nil {
		return req, err
	}
	if err := s.checkInstance(req.InstanceArn); err != nil {
		return req, err
	}
	v := validator{invalid: ssoInvalid}
	if v.required("PrincipalType", req.PrincipalType) {
		v.oneOf("PrincipalType", req.PrincipalType, "USER", "GROUP")
	}
	if v.required("TargetType", req.TargetType) {
		v.oneOf("TargetType", req.TargetType, "AWS_ACCOUNT")
	}
	if v.required("TargetId", req.TargetId) {
		v.pattern("TargetId", req.TargetId, reAccountID)
	}
	if v.required("PrincipalId", req.PrincipalId) {
		v.length("PrincipalId", req.PrincipalId, 1, 47)
	}
	if v.err != nil {
		return req, v.err
	}
	if _, err := s.loadPermissionSet(ctx, tx, req.PermissionSetArn); err != nil {
		return req, err
	}
	var outstanding int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM assignment_operations WHERE status = 'IN_PROGRESS'`).Scan(&outstanding); err != nil {
		return req, err
	}
	if outstanding >= s.cfg.MaxOutstandingAssignments {
		s.stats.Throttled++
		return req, &apiError{Status: 400, Code: "ThrottlingException",
			Message: fmt.Sprintf("%d account assignment operations are in progress; the limit is %d", outstanding, s.cfg.MaxOutstandingAssignments)}
	}
	return req, nil
}

// startAssignment records an assignment operation IN_PROGRESS; whether it
// will fail is drawn now, so a seeded simulated cloud is reproducible.
func (s *Server) startAssignment(ctx context.Context, tx *sql.Tx, kind string, req assignmentInput) (assignmentStatus, error) {
	fails := kind == "CREATE" && s.cfg.AssignmentFailureRate > 0 && s.rng.Float64() < s.cfg.AssignmentFailureRate
	if fails {
		s.stats.AssignmentFailuresInjected++
	}
	now := s.cfg.Now()
	st := assignmentStatus{RequestId: uuid(), Status: "IN_PROGRESS", TargetId: *req.TargetId, TargetType: "AWS_ACCOUNT",
		PermissionSetArn: *req.PermissionSetArn, PrincipalType: *req.PrincipalType, PrincipalId: *req.PrincipalId, CreatedDate: epoch(now.UnixNano())}
	_, err := tx.ExecContext(ctx, `INSERT INTO assignment_operations (id, kind, status, failure_reason, account_id, permission_set_arn, principal_type, principal_id,
		created_at, completes_at, fails) VALUES (?, ?, 'IN_PROGRESS', '', ?, ?, ?, ?, ?, ?, ?)`,
		st.RequestId, kind, st.TargetId, st.PermissionSetArn, st.PrincipalType, st.PrincipalId, now.UnixNano(), now.Add(s.cfg.AssignmentLatency).UnixNano(), fails)
	return st, err
}

func ssoCreateAccountAssignment(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	req, err := s.checkAssignment(ctx, tx, in)
	if err != nil {
		return nil, err
	}
	if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM accounts WHERE id = ? AND status = 'ACTIVE'`, *req.TargetId); err != nil || !ok {
		return nil, firstErr(err, ssoNotFound("no active account "+*req.TargetId))
	}
	if *req.PrincipalType == "GROUP" {
		if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM groups WHERE id = ?`, *req.PrincipalId); err != nil || !ok {
			return nil, firstErr(err, ssoNotFound("no group "+*req.PrincipalId+" in the identity store"))
		}
	}
	// Assigning what is already assigned succeeds, as it does in AWS —
	// asynchronously like any other assignment.
	st, err := s.startAssignment(ctx, tx, "CREATE", req)
	if err != nil {
		return nil, err
	}
	return map[string]any{"AccountAssignmentCreationStatus": st}, nil
}

func ssoDeleteAccountAssignment(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	req, err := s.checkAssignment(ctx, tx, in)
	if err != nil {
		return nil, err
	}
	st, err := s.startAssignment(ctx, tx, "DELETE", req)
	if err != nil {
		return nil, err
	}
	return map[string]any{"AccountAssignmentDeletionStatus": st}, nil
}

func (s *Server) describeAssignmentOp(ctx context.Context, tx *sql.Tx, in []byte, kind, idField, outField string) (any, error) {
	var raw map[string]json.RawMessage
	if err := decode(in, &raw); err != nil {
		return nil, err
	}
	for k := range raw {
		if k != "InstanceArn" && k != idField {
			return nil, &apiError{Status: 400, Code: "SerializationException", Message: "cannot parse request: unknown field " + k}
		}
	}
	var instance, id *string
	for field, dst := range map[string]**string{"InstanceArn": &instance, idField: &id} {
		if r, ok := raw[field]; ok {
			if err := json.Unmarshal(r, dst); err != nil {
				return nil, &apiError{Status: 400, Code: "SerializationException", Message: field + " must be a string"}
			}
		}
	}
	if err := s.checkInstance(instance); err != nil {
		return nil, err
	}
	v := validator{invalid: ssoInvalid}
	v.required(idField, id)
	if v.err != nil {
		return nil, v.err
	}
	var st assignmentStatus
	var created int64
	err := tx.QueryRowContext(ctx, `SELECT id, status, failure_reason, account_id, permission_set_arn, principal_type, principal_id, created_at
		FROM assignment_operations WHERE id = ? AND kind = ?`, *id, kind).
		Scan(&st.RequestId, &st.Status, &st.FailureReason, &st.TargetId, &st.PermissionSetArn, &st.PrincipalType, &st.PrincipalId, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ssoNotFound("no account assignment request " + *id)
	}
	if err != nil {
		return nil, err
	}
	st.TargetType, st.CreatedDate = "AWS_ACCOUNT", epoch(created)
	return map[string]any{outField: st}, nil
}

func ssoDescribeAssignmentStatus(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	return s.describeAssignmentOp(ctx, tx, in, "CREATE", "AccountAssignmentCreationRequestId", "AccountAssignmentCreationStatus")
}

func ssoDescribeAssignmentDeletionStatus(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	return s.describeAssignmentOp(ctx, tx, in, "DELETE", "AccountAssignmentDeletionRequestId", "AccountAssignmentDeletionStatus")
}

// permissionSetInput is the input every policy operation shares.
type permissionSetInput struct {
	InstanceArn      *string `json:"InstanceArn"`
	PermissionSetArn *string `json:"PermissionSetArn"`
}

func (s *Server) permissionSetOp(ctx context.Context, tx *sql.Tx, in []byte, req any, base func() permissionSetInput) (string, error) {
	if err := decode(in, req); err != nil {
		return "", err
	}
	b := base()
	if err := s.checkInstance(b.InstanceArn); err != nil {
		return "", err
	}
	ps, err := s.loadPermissionSet(ctx, tx, b.PermissionSetArn)
	return ps.PermissionSetArn, err
}

func ssoAttachManagedPolicy(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		permissionSetInput
		ManagedPolicyArn *string `json:"ManagedPolicyArn"`
	}
	arn, err := s.permissionSetOp(ctx, tx, in, &req, func() permissionSetInput { return req.permissionSetInput })
	if err != nil {
		return nil, err
	}
	v := validator{invalid: ssoInvalid}
	if v.required("ManagedPolicyArn", req.ManagedPolicyArn) {
		v.length("ManagedPolicyArn", req.ManagedPolicyArn, 20, 2048)
		v.pattern("ManagedPolicyArn", req.ManagedPolicyArn, reManagedPolicyARN)
	}
	if v.err != nil {
		return nil, v.err
	}
	if dup, err := exists(ctx, tx, `SELECT COUNT(*) FROM permission_set_policies WHERE arn = ? AND kind = 'managed' AND value = ?`, arn, *req.ManagedPolicyArn); err != nil || dup {
		return nil, firstErr(err, &apiError{Status: 400, Code: "ConflictException", Message: "managed policy " + *req.ManagedPolicyArn + " is already attached"})
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM permission_set_policies WHERE arn = ? AND kind = 'managed'`, arn).Scan(&n); err != nil {
		return nil, err
	}
	if n >= maxManagedPoliciesPerSet {
		return nil, &apiError{Status: 402, Code: "ServiceQuotaExceededException", Message: fmt.Sprintf("a permission set may hold at most %d managed policies", maxManagedPoliciesPerSet)}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO permission_set_policies (arn, kind, value) VALUES (?, 'managed', ?)`, arn, *req.ManagedPolicyArn); err != nil {
		return nil, err
	}
	return struct{}{}, changed(ctx, tx, arn)
}

func ssoDetachManagedPolicy(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		permissionSetInput
		ManagedPolicyArn *string `json:"ManagedPolicyArn"`
	}
	arn, err := s.permissionSetOp(ctx, tx, in, &req, func() permissionSetInput { return req.permissionSetInput })
	if err != nil {
		return nil, err
	}
	v := validator{invalid: ssoInvalid}
	v.required("ManagedPolicyArn", req.ManagedPolicyArn)
	if v.err != nil {
		return nil, v.err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM permission_set_policies WHERE arn = ? AND kind = 'managed' AND value = ?`, arn, *req.ManagedPolicyArn)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, ssoNotFound("managed policy " + *req.ManagedPolicyArn + " is not attached")
	}
	return struct{}{}, changed(ctx, tx, arn)
}

func ssoListManagedPolicies(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		permissionSetInput
		MaxResults *int    `json:"MaxResults"`
		NextToken  *string `json:"NextToken"`
	}
	arn, err := s.permissionSetOp(ctx, tx, in, &req, func() permissionSetInput { return req.permissionSetInput })
	if err != nil {
		return nil, err
	}
	p, err := parsePage(req.NextToken, req.MaxResults, 100, 100, func(m string) error { return ssoInvalid("NextToken", "", m) })
	if err != nil {
		return nil, err
	}
	arns, err := queryAll(ctx, tx, scanString, `SELECT value FROM permission_set_policies WHERE arn = ? AND kind = 'managed' ORDER BY value LIMIT ? OFFSET ?`,
		arn, p.limit+1, p.offset)
	if err != nil {
		return nil, err
	}
	arns, next := trimPage(p, arns)
	out := []map[string]string{}
	for _, a := range arns {
		out = append(out, map[string]string{"Arn": a, "Name": a[strings.LastIndex(a, "/")+1:]})
	}
	return map[string]any{"AttachedManagedPolicies": out, "NextToken": next}, nil
}

// validPolicyDocument checks what IAM checks first: JSON with a Version and
// at least one statement.
func validPolicyDocument(field, doc string) error {
	var d struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil || d.Version == "" || len(d.Statement) == 0 || string(d.Statement) == "[]" {
		return ssoInvalid(field, "", field+" is not a policy document (JSON with Version and Statement)")
	}
	return nil
}

func ssoPutInlinePolicy(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		permissionSetInput
		InlinePolicy *string `json:"InlinePolicy"`
	}
	arn, err := s.permissionSetOp(ctx, tx, in, &req, func() permissionSetInput { return req.permissionSetInput })
	if err != nil {
		return nil, err
	}
	v := validator{invalid: ssoInvalid}
	if v.required("InlinePolicy", req.InlinePolicy) {
		v.length("InlinePolicy", req.InlinePolicy, 1, maxInlinePolicyChars)
	}
	if v.err != nil {
		return nil, v.err
	}
	if err := validPolicyDocument("InlinePolicy", *req.InlinePolicy); err != nil {
		return nil, err
	}
	if err := putSingle(ctx, tx, arn, "inline", *req.InlinePolicy); err != nil {
		return nil, err
	}
	return struct{}{}, changed(ctx, tx, arn)
}

func ssoGetInlinePolicy(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req permissionSetInput
	arn, err := s.permissionSetOp(ctx, tx, in, &req, func() permissionSetInput { return req })
	if err != nil {
		return nil, err
	}
	doc, ok, err := single(ctx, tx, arn, "inline")
	if err != nil {
		return nil, err
	}
	if !ok {
		return struct{}{}, nil // no inline policy: an empty answer
	}
	return map[string]string{"InlinePolicy": doc}, nil
}

func ssoDeleteInlinePolicy(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req permissionSetInput
	arn, err := s.permissionSetOp(ctx, tx, in, &req, func() permissionSetInput { return req })
	if err != nil {
		return nil, err
	}
	had, err := deleteSingle(ctx, tx, arn, "inline")
	if err != nil || !had {
		return struct{}{}, err
	}
	return struct{}{}, changed(ctx, tx, arn)
}

type permissionsBoundary struct {
	CustomerManagedPolicyReference *struct {
		Name *string `json:"Name"`
		Path *string `json:"Path,omitempty"`
	} `json:"CustomerManagedPolicyReference,omitempty"`
	ManagedPolicyArn *string `json:"ManagedPolicyArn,omitempty"`
}

func ssoPutPermissionsBoundary(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		permissionSetInput
		PermissionsBoundary *permissionsBoundary `json:"PermissionsBoundary"`
	}
	arn, err := s.permissionSetOp(ctx, tx, in, &req, func() permissionSetInput { return req.permissionSetInput })
	if err != nil {
		return nil, err
	}
	b := req.PermissionsBoundary
	v := validator{invalid: ssoInvalid}
	switch {
	case b == nil:
		v.err = ssoInvalid("PermissionsBoundary", "", "PermissionsBoundary is required")
	case (b.ManagedPolicyArn == nil) == (b.CustomerManagedPolicyReference == nil):
		v.err = ssoInvalid("PermissionsBoundary", "", "give either ManagedPolicyArn or CustomerManagedPolicyReference")
	case b.ManagedPolicyArn != nil:
		v.length("ManagedPolicyArn", b.ManagedPolicyArn, 20, 2048)
		v.pattern("ManagedPolicyArn", b.ManagedPolicyArn, reManagedPolicyARN)
	default:
		if v.required("CustomerManagedPolicyReference.Name", b.CustomerManagedPolicyReference.Name) {
			v.length("CustomerManagedPolicyReference.Name", b.CustomerManagedPolicyReference.Name, 1, 128)
			v.pattern("CustomerManagedPolicyReference.Name", b.CustomerManagedPolicyReference.Name, rePolicyName)
		}
		v.length("CustomerManagedPolicyReference.Path", b.CustomerManagedPolicyReference.Path, 1, 512)
		v.pattern("CustomerManagedPolicyReference.Path", b.CustomerManagedPolicyReference.Path, rePolicyPath)
	}
	if v.err != nil {
		return nil, v.err
	}
	doc, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	if err := putSingle(ctx, tx, arn, "boundary", string(doc)); err != nil {
		return nil, err
	}
	return struct{}{}, changed(ctx, tx, arn)
}

func ssoGetPermissionsBoundary(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req permissionSetInput
	arn, err := s.permissionSetOp(ctx, tx, in, &req, func() permissionSetInput { return req })
	if err != nil {
		return nil, err
	}
	doc, ok, err := single(ctx, tx, arn, "boundary")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ssoNotFound("permission set " + arn + " has no permissions boundary")
	}
	return map[string]json.RawMessage{"PermissionsBoundary": json.RawMessage(doc)}, nil
}

func ssoDeletePermissionsBoundary(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req permissionSetInput
	arn, err := s.permissionSetOp(ctx, tx, in, &req, func() permissionSetInput { return req })
	if err != nil {
		return nil, err
	}
	had, err := deleteSingle(ctx, tx, arn, "boundary")
	if err != nil {
		return nil, err
	}
	if !had {
		return nil, ssoNotFound("permission set " + arn + " has no permissions boundary")
	}
	return struct{}{}, changed(ctx, tx, arn)
}

// A permission set has at most one inline policy and one permissions
// boundary: rows of kind "inline" and "boundary", replaced whole.

func putSingle(ctx context.Context, tx *sql.Tx, arn, kind, value string) error {
	if _, err := deleteSingle(ctx, tx, arn, kind); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO permission_set_policies (arn, kind, value) VALUES (?, ?, ?)`, arn, kind, value)
	return err
}

// single reads the permission set's policy of kind; ok is false without one.
func single(ctx context.Context, tx *sql.Tx, arn, kind string) (value string, ok bool, err error) {
	err = tx.QueryRowContext(ctx, `SELECT value FROM permission_set_policies WHERE arn = ? AND kind = ?`, arn, kind).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return value, err == nil, err
}

// deleteSingle removes it and says whether there was one.
func deleteSingle(ctx context.Context, tx *sql.Tx, arn, kind string) (bool, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM permission_set_policies WHERE arn = ? AND kind = ?`, arn, kind)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

type provisioningStatus struct {
	RequestId        string  `json:"RequestId"`
	Status           string  `json:"Status"`
	PermissionSetArn string  `json:"PermissionSetArn"`
	AccountId        string  `json:"AccountId,omitempty"`
	CreatedDate      float64 `json:"CreatedDate"`
}

func ssoProvisionPermissionSet(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		permissionSetInput
		TargetType *string `json:"TargetType"`
		TargetId   *string `json:"TargetId"`
	}
	arn, err := s.permissionSetOp(ctx, tx, in, &req, func() permissionSetInput { return req.permissionSetInput })
	if err != nil {
		return nil, err
	}
	v := validator{invalid: ssoInvalid}
	if v.required("TargetType", req.TargetType) {
		v.oneOf("TargetType", req.TargetType, "AWS_ACCOUNT", "ALL_PROVISIONED_ACCOUNTS")
	}
	if v.err == nil && *req.TargetType == "AWS_ACCOUNT" {
		if v.required("TargetId", req.TargetId) {
			v.pattern("TargetId", req.TargetId, reAccountID)
		}
	}
	if v.err == nil && *req.TargetType == "ALL_PROVISIONED_ACCOUNTS" && req.TargetId != nil {
		v.err = ssoInvalid("TargetId", "", "TargetId is for TargetType AWS_ACCOUNT")
	}
	if v.err != nil {
		return nil, v.err
	}
	now := s.cfg.Now()
	st := provisioningStatus{RequestId: uuid(), Status: "IN_PROGRESS", PermissionSetArn: arn, AccountId: deref(req.TargetId), CreatedDate: epoch(now.UnixNano())}
	if _, err := tx.ExecContext(ctx, `INSERT INTO provisioning_operations (id, arn, target_type, target_id, status, created_at, completes_at)
		VALUES (?, ?, ?, ?, 'IN_PROGRESS', ?, ?)`, st.RequestId, arn, *req.TargetType, st.AccountId, now.UnixNano(), now.Add(s.cfg.AssignmentLatency).UnixNano()); err != nil {
		return nil, err
	}
	return map[string]any{"PermissionSetProvisioningStatus": st}, nil
}

func ssoDescribeProvisioningStatus(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		InstanceArn                     *string `json:"InstanceArn"`
		ProvisionPermissionSetRequestId *string `json:"ProvisionPermissionSetRequestId"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := s.checkInstance(req.InstanceArn); err != nil {
		return nil, err
	}
	v := validator{invalid: ssoInvalid}
	v.required("ProvisionPermissionSetRequestId", req.ProvisionPermissionSetRequestId)
	if v.err != nil {
		return nil, v.err
	}
	var st provisioningStatus
	var created int64
	err := tx.QueryRowContext(ctx, `SELECT id, status, arn, target_id, created_at FROM provisioning_operations WHERE id = ?`, *req.ProvisionPermissionSetRequestId).
		Scan(&st.RequestId, &st.Status, &st.PermissionSetArn, &st.AccountId, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ssoNotFound("no provisioning request " + *req.ProvisionPermissionSetRequestId)
	}
	if err != nil {
		return nil, err
	}
	st.CreatedDate = epoch(created)
	return map[string]any{"PermissionSetProvisioningStatus": st}, nil
}

func ssoListAccountsForProvisionedPermissionSet(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		permissionSetInput
		ProvisioningStatus *string `json:"ProvisioningStatus"`
		MaxResults         *int    `json:"MaxResults"`
		NextToken          *string `json:"NextToken"`
	}
	arn, err := s.permissionSetOp(ctx, tx, in, &req, func() permissionSetInput { return req.permissionSetInput })
	if err != nil {
		return nil, err
	}
	v := validator{invalid: ssoInvalid}
	v.oneOf("ProvisioningStatus", req.ProvisioningStatus, "LATEST_PERMISSION_SET_PROVISIONED", "LATEST_PERMISSION_SET_NOT_PROVISIONED")
	if v.err != nil {
		return nil, v.err
	}
	p, err := parsePage(req.NextToken, req.MaxResults, 100, 100, func(m string) error { return ssoInvalid("NextToken", "", m) })
	if err != nil {
		return nil, err
	}
	rev, err := currentRevision(ctx, tx, arn)
	if err != nil {
		return nil, err
	}
	cond := ""
	switch deref(req.ProvisioningStatus) {
	case "LATEST_PERMISSION_SET_PROVISIONED":
		cond = " AND revision >= ?"
	case "LATEST_PERMISSION_SET_NOT_PROVISIONED":
		cond = " AND revision < ?"
	default:
		cond = " AND ? IS NOT NULL"
	}
	ids, err := queryAll(ctx, tx, scanString, `SELECT account_id FROM permission_set_provisioned WHERE arn = ?`+cond+` ORDER BY account_id LIMIT ? OFFSET ?`,
		arn, rev, p.limit+1, p.offset)
	if err != nil {
		return nil, err
	}
	ids, next := trimPage(p, ids)
	return map[string]any{"AccountIds": ids, "NextToken": next}, nil
}

// visibleSince is the newest creation time ListPermissionSets shows: later
// ones have not propagated yet.
func (s *Server) visibleSince() int64 {
	return s.cfg.Now().Add(-s.cfg.PropagationDelay).UnixNano()
}

// inspect runs read in a transaction after settling what is due, for the
// inspection helpers below.
func (s *Server) inspect(ctx context.Context, read func(tx *sql.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.settle(ctx, tx); err != nil {
		return err
	}
	if err := read(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// AccountAssignments lists the account's assignments as "permission set
// name=group display name" (or "=user:<id>"), sorted, for tests and
// inspection.
func (s *Server) AccountAssignments(ctx context.Context, accountID string) ([]string, error) {
	var out []string
	err := s.inspect(ctx, func(tx *sql.Tx) (err error) {
		out, err = queryAll(ctx, tx, scanString, `SELECT p.name || '=' || COALESCE(g.display_name, 'user:' || a.principal_id)
			FROM assignments a JOIN permission_sets p ON p.arn = a.permission_set_arn
			LEFT JOIN groups g ON a.principal_type = 'GROUP' AND g.id = a.principal_id
			WHERE a.account_id = ? ORDER BY 1`, accountID)
		return err
	})
	return out, err
}

// PermissionSetGrants is what a permission set grants, for tests and
// inspection.
type PermissionSetGrants struct {
	ManagedPolicies []string
	InlinePolicy    string
	// PermissionsBoundary is the boundary as the API shows it (JSON), or
	// empty.
	PermissionsBoundary string
}

// Grants reports what the permission set named name grants.
func (s *Server) Grants(ctx context.Context, name string) (PermissionSetGrants, error) {
	var g PermissionSetGrants
	err := s.inspect(ctx, func(tx *sql.Tx) error {
		rows, err := queryAll(ctx, tx, func(rows *sql.Rows) ([2]string, error) {
			var kv [2]string
			return kv, rows.Scan(&kv[0], &kv[1])
		}, `SELECT q.kind, q.value FROM permission_set_policies q JOIN permission_sets p ON p.arn = q.arn WHERE p.name = ? ORDER BY q.kind, q.value`, name)
		for _, kv := range rows {
			switch kv[0] {
			case "managed":
				g.ManagedPolicies = append(g.ManagedPolicies, kv[1])
			case "inline":
				g.InlinePolicy = kv[1]
			case "boundary":
				g.PermissionsBoundary = kv[1]
			}
		}
		return err
	})
	return g, err
}
