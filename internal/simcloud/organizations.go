package simcloud

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AWS Organizations, awsJson1.1 with target prefix AWSOrganizationsV20161128.
var organizationsOps = map[string]operation{
	"CreateAccount":                    orgCreateAccount,
	"DescribeCreateAccountStatus":      orgDescribeCreateAccountStatus,
	"ListCreateAccountStatus":          orgListCreateAccountStatus,
	"ListAccounts":                     orgListAccounts,
	"DescribeAccount":                  orgDescribeAccount,
	"ListRoots":                        orgListRoots,
	"ListOrganizationalUnitsForParent": orgListOUsForParent,
	"CreateOrganizationalUnit":         orgCreateOU,
	"ListParents":                      orgListParents,
	"MoveAccount":                      orgMoveAccount,
	"ListPolicies":                     orgListPolicies,
	"CreatePolicy":                     orgCreatePolicy,
	"AttachPolicy":                     orgAttachPolicy,
	"DetachPolicy":                     orgDetachPolicy,
	"ListPoliciesForTarget":            orgListPoliciesForTarget,
	"TagResource":                      orgTagResource,
	"ListTagsForResource":              orgListTagsForResource,
	"CloseAccount":                     orgCloseAccount,
}

var (
	reEmail       = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)
	reAccountName = regexp.MustCompile(`^[\x{0020}-\x{007E}]+$`)
	reAccountID   = regexp.MustCompile(`^\d{12}$`)
	reRequestID   = regexp.MustCompile(`^car-[a-z0-9]{8,32}$`)
	reParentID    = regexp.MustCompile(`^(r-[0-9a-z]{4,32})$|^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
	rePolicyID    = regexp.MustCompile(`^p-[0-9a-zA-Z_]{8,128}$`)
	reTargetID    = regexp.MustCompile(`^(r-[0-9a-z]{4,32})$|^(\d{12})$|^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
	reChildID     = regexp.MustCompile(`^(\d{12})$|^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
)

// Organizations' own limits that hatoba must respect.
const (
	maxOUDepth            = 5
	maxSCPsPerTarget      = 5
	maxSCPContentChars    = 5120
	maxTagsPerResource    = 50
	orgDefaultListResults = 20
)

func orgInvalid(field, reason, msg string) error {
	return &apiError{Status: 400, Code: "InvalidInputException", Message: msg, Extra: map[string]string{"Reason": reason}}
}

func orgNotFound(code, msg string) error { return &apiError{Status: 400, Code: code, Message: msg} }

type orgTag struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value"`
}

type createAccountStatus struct {
	Id                 string   `json:"Id"`
	AccountName        string   `json:"AccountName"`
	State              string   `json:"State"`
	RequestedTimestamp float64  `json:"RequestedTimestamp"`
	CompletedTimestamp *float64 `json:"CompletedTimestamp,omitempty"`
	AccountId          *string  `json:"AccountId,omitempty"`
	FailureReason      *string  `json:"FailureReason,omitempty"`
}

func orgCreateAccount(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		Email                  *string  `json:"Email"`
		AccountName            *string  `json:"AccountName"`
		RoleName               *string  `json:"RoleName"`
		IamUserAccessToBilling *string  `json:"IamUserAccessToBilling"`
		Tags                   []orgTag `json:"Tags"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: orgInvalid}
	if v.required("Email", req.Email) {
		v.length("Email", req.Email, 6, 64)
		if v.err == nil && !reEmail.MatchString(*req.Email) {
			v.err = orgInvalid("Email", "INVALID_EMAIL_ADDRESS_TARGET", fmt.Sprintf("%q is not a valid e-mail address", *req.Email))
		}
	}
	if v.required("AccountName", req.AccountName) {
		v.length("AccountName", req.AccountName, 1, 50)
		v.pattern("AccountName", req.AccountName, reAccountName)
	}
	v.oneOf("IamUserAccessToBilling", req.IamUserAccessToBilling, "ALLOW", "DENY")
	v.tags(req.Tags, 0)
	if v.err != nil {
		return nil, v.err
	}
	var inProgress int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM create_requests WHERE state = 'IN_PROGRESS'`).Scan(&inProgress); err != nil {
		return nil, err
	}
	s.stats.CreateCalls++
	if inProgress >= s.cfg.ConcurrentCreations {
		s.stats.Throttled++
		return nil, &apiError{Status: 400, Code: "ConstraintViolationException", Extra: map[string]string{"Reason": "ACCOUNT_CREATION_RATE_LIMIT_EXCEEDED"},
			Message: fmt.Sprintf("you have %d account creations in progress; the limit is %d", inProgress, s.cfg.ConcurrentCreations)}
	}
	if s.cfg.MaxAccounts > 0 {
		var accounts int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&accounts); err != nil {
			return nil, err
		}
		// The management account counts, and so do closed accounts.
		if 1+accounts+inProgress >= s.cfg.MaxAccounts {
			return nil, &apiError{Status: 400, Code: "ConstraintViolationException", Extra: map[string]string{"Reason": "ACCOUNT_NUMBER_LIMIT_EXCEEDED"},
				Message: fmt.Sprintf("the organization has %d accounts (closed ones and the management account included) and creations in progress; its quota is %d", 1+accounts+inProgress, s.cfg.MaxAccounts)}
		}
	}
	now := s.cfg.Now()
	id := "car-" + randomID(lowerAlnum, 32)
	email := strings.ToLower(*req.Email)
	// A request for an e-mail whose creation is still in flight fails with
	// CONCURRENT_ACCOUNT_MODIFICATION, as AWS's does: decided now, seen
	// when the request completes.
	failure := ""
	if dup, err := exists(ctx, tx, `SELECT COUNT(*) FROM create_requests WHERE email = ? AND state = 'IN_PROGRESS'`, email); err != nil {
		return nil, err
	} else if dup {
		failure = "CONCURRENT_ACCOUNT_MODIFICATION"
	} else if s.cfg.CreateFailureRate > 0 && s.rng.Float64() < s.cfg.CreateFailureRate {
		failure = s.cfg.CreateFailureReason
		s.stats.CreateFailuresInjected++
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO create_requests (id, name, email, requested_at, completes_at, state) VALUES (?, ?, ?, ?, ?, 'IN_PROGRESS')`,
		id, *req.AccountName, email, now.UnixNano(), now.Add(s.cfg.Latency).UnixNano()); err != nil {
		return nil, err
	}
	if failure != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO create_failures (request_id, reason) VALUES (?, ?)`, id, failure); err != nil {
			return nil, err
		}
	}
	for _, t := range req.Tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tags (resource_id, key, value) VALUES (?, ?, ?) ON CONFLICT (resource_id, key) DO UPDATE SET value = excluded.value`, id, *t.Key, deref(t.Value)); err != nil {
			return nil, err
		}
	}
	s.stats.MaxConcurrentObserved = max(s.stats.MaxConcurrentObserved, inProgress+1)
	if s.cfg.Latency <= 0 {
		if err := s.settle(ctx, tx); err != nil {
			return nil, err
		}
	}
	st, err := loadCreateStatus(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"CreateAccountStatus": st}, nil
}

func loadCreateStatus(ctx context.Context, tx *sql.Tx, id string) (createAccountStatus, error) {
	var st createAccountStatus
	var requested int64
	var completed sql.NullInt64
	var accountID, reason sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT id, name, state, requested_at, completed_at, account_id, failure_reason FROM create_requests WHERE id = ?`, id).
		Scan(&st.Id, &st.AccountName, &st.State, &requested, &completed, &accountID, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return st, orgNotFound("CreateAccountStatusNotFoundException", "no account creation request "+id)
	}
	if err != nil {
		return st, err
	}
	st.RequestedTimestamp = epoch(requested)
	if completed.Valid {
		t := epoch(completed.Int64)
		st.CompletedTimestamp = &t
	}
	if accountID.Valid {
		st.AccountId = &accountID.String
	}
	if reason.Valid {
		st.FailureReason = &reason.String
	}
	return st, nil
}

func orgDescribeCreateAccountStatus(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		CreateAccountRequestId *string `json:"CreateAccountRequestId"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: orgInvalid}
	if v.required("CreateAccountRequestId", req.CreateAccountRequestId) {
		v.pattern("CreateAccountRequestId", req.CreateAccountRequestId, reRequestID)
	}
	if v.err != nil {
		return nil, v.err
	}
	st, err := loadCreateStatus(ctx, tx, *req.CreateAccountRequestId)
	if err != nil {
		return nil, err
	}
	return map[string]any{"CreateAccountStatus": st}, nil
}

func orgListCreateAccountStatus(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		States     []string `json:"States"`
		NextToken  *string  `json:"NextToken"`
		MaxResults *int     `json:"MaxResults"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	p, err := parsePage(req.NextToken, req.MaxResults, orgDefaultListResults, 20, func(m string) error { return orgInvalid("", "INVALID_NEXT_TOKEN", m) })
	if err != nil {
		return nil, err
	}
	if tok := s.emptyPage(p); tok != nil {
		return map[string]any{"CreateAccountStatuses": []createAccountStatus{}, "NextToken": tok}, nil
	}
	states := req.States
	if len(states) == 0 {
		states = []string{"IN_PROGRESS", "SUCCEEDED", "FAILED"}
	}
	v := validator{invalid: orgInvalid}
	for i := range states {
		v.oneOf("States", &states[i], "IN_PROGRESS", "SUCCEEDED", "FAILED")
	}
	if v.err != nil {
		return nil, v.err
	}
	args := make([]any, 0, len(states)+2)
	for _, st := range states {
		args = append(args, st)
	}
	args = append(args, p.limit+1, p.offset)
	ids, err := queryAll(ctx, tx, scanString, `SELECT id FROM create_requests WHERE state IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(states)), ", ")+`)
		ORDER BY requested_at, id LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, err
	}
	ids, next := trimPage(p, ids)
	out := []createAccountStatus{}
	for _, id := range ids {
		st, err := loadCreateStatus(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return map[string]any{"CreateAccountStatuses": out, "NextToken": next}, nil
}

type account struct {
	Id              string  `json:"Id"`
	Arn             string  `json:"Arn"`
	Email           string  `json:"Email"`
	Name            string  `json:"Name"`
	Status          string  `json:"Status"`
	State           string  `json:"State"`
	JoinedMethod    string  `json:"JoinedMethod"`
	JoinedTimestamp float64 `json:"JoinedTimestamp"`
}

func (s *Server) managementAccount() string { return "000000000001" }

func (s *Server) accountARN(id string) string {
	return fmt.Sprintf("arn:aws:organizations::%s:account/o-%s/%s", s.managementAccount(), strings.TrimPrefix(s.rootID, "r-"), id)
}

// accountColumns are what scanAccount reads.
const accountColumns = `id, name, email, status, joined_at`

func (s *Server) scanAccount(rows *sql.Rows) (account, error) {
	var a account
	var joined int64
	err := rows.Scan(&a.Id, &a.Name, &a.Email, &a.Status, &joined)
	a.Arn, a.JoinedMethod, a.JoinedTimestamp, a.State = s.accountARN(a.Id), "CREATED", epoch(joined), a.Status
	return a, err
}

func orgListAccounts(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		NextToken  *string `json:"NextToken"`
		MaxResults *int    `json:"MaxResults"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	p, err := parsePage(req.NextToken, req.MaxResults, orgDefaultListResults, 20, func(m string) error { return orgInvalid("", "INVALID_NEXT_TOKEN", m) })
	if err != nil {
		return nil, err
	}
	if tok := s.emptyPage(p); tok != nil {
		return map[string]any{"Accounts": []account{}, "NextToken": tok}, nil
	}
	accts, err := queryAll(ctx, tx, s.scanAccount, `SELECT `+accountColumns+` FROM accounts ORDER BY joined_at, id LIMIT ? OFFSET ?`, p.limit+1, p.offset)
	if err != nil {
		return nil, err
	}
	accts, next := trimPage(p, accts)
	return map[string]any{"Accounts": accts, "NextToken": next}, nil
}

func (s *Server) loadAccount(ctx context.Context, tx *sql.Tx, id string) (account, string, error) {
	var parent string
	accts, err := queryAll(ctx, tx, s.scanAccount, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id)
	if err != nil {
		return account{}, "", err
	}
	if len(accts) == 0 {
		return account{}, "", orgNotFound("AccountNotFoundException", "no account "+id+" in this organization")
	}
	if err := tx.QueryRowContext(ctx, `SELECT parent_id FROM accounts WHERE id = ?`, id).Scan(&parent); err != nil {
		return account{}, "", err
	}
	return accts[0], parent, nil
}

func validAccountID(field string, id *string) error {
	v := validator{invalid: orgInvalid}
	if v.required(field, id) {
		v.pattern(field, id, reAccountID)
	}
	return v.err
}

func orgDescribeAccount(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		AccountId *string `json:"AccountId"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := validAccountID("AccountId", req.AccountId); err != nil {
		return nil, err
	}
	a, _, err := s.loadAccount(ctx, tx, *req.AccountId)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Account": a}, nil
}

func orgListRoots(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		NextToken  *string `json:"NextToken"`
		MaxResults *int    `json:"MaxResults"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	p, err := parsePage(req.NextToken, req.MaxResults, orgDefaultListResults, 20, func(m string) error { return orgInvalid("", "INVALID_NEXT_TOKEN", m) })
	if err != nil {
		return nil, err
	}
	if tok := s.emptyPage(p); tok != nil {
		return map[string]any{"Roots": []map[string]any{}, "NextToken": tok}, nil
	}
	if p.offset > 0 {
		return map[string]any{"Roots": []map[string]any{}}, nil
	}
	return map[string]any{"Roots": []map[string]any{{
		"Id": s.rootID, "Name": "Root",
		"Arn":         fmt.Sprintf("arn:aws:organizations::%s:root/o-%s/%s", s.managementAccount(), strings.TrimPrefix(s.rootID, "r-"), s.rootID),
		"PolicyTypes": []map[string]string{{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}},
	}}}, nil
}

// parentExists reports whether id is the root or an existing unit.
func (s *Server) parentExists(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	if id == s.rootID {
		return true, nil
	}
	return exists(ctx, tx, `SELECT COUNT(*) FROM units WHERE id = ?`, id)
}

func (s *Server) unitJSON(id, name string) map[string]string {
	return map[string]string{"Id": id, "Name": name,
		"Arn": fmt.Sprintf("arn:aws:organizations::%s:ou/o-%s/%s", s.managementAccount(), strings.TrimPrefix(s.rootID, "r-"), id)}
}

func orgListOUsForParent(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		ParentId   *string `json:"ParentId"`
		NextToken  *string `json:"NextToken"`
		MaxResults *int    `json:"MaxResults"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: orgInvalid}
	if v.required("ParentId", req.ParentId) {
		v.pattern("ParentId", req.ParentId, reParentID)
	}
	if v.err != nil {
		return nil, v.err
	}
	p, err := parsePage(req.NextToken, req.MaxResults, orgDefaultListResults, 20, func(m string) error { return orgInvalid("", "INVALID_NEXT_TOKEN", m) })
	if err != nil {
		return nil, err
	}
	if tok := s.emptyPage(p); tok != nil {
		return map[string]any{"OrganizationalUnits": []map[string]string{}, "NextToken": tok}, nil
	}
	if ok, err := s.parentExists(ctx, tx, *req.ParentId); err != nil || !ok {
		return nil, firstErr(err, orgNotFound("ParentNotFoundException", "no root or OU "+*req.ParentId))
	}
	units, err := queryAll(ctx, tx, func(rows *sql.Rows) (map[string]string, error) {
		var id, name string
		err := rows.Scan(&id, &name)
		return s.unitJSON(id, name), err
	}, `SELECT id, name FROM units WHERE parent_id = ? ORDER BY id LIMIT ? OFFSET ?`, *req.ParentId, p.limit+1, p.offset)
	if err != nil {
		return nil, err
	}
	units, next := trimPage(p, units)
	return map[string]any{"OrganizationalUnits": units, "NextToken": next}, nil
}

func (s *Server) depth(ctx context.Context, tx *sql.Tx, id string) (int, error) {
	d := 0
	for id != s.rootID {
		if err := tx.QueryRowContext(ctx, `SELECT parent_id FROM units WHERE id = ?`, id).Scan(&id); err != nil {
			return 0, err
		}
		d++
	}
	return d, nil
}

func orgCreateOU(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		ParentId *string  `json:"ParentId"`
		Name     *string  `json:"Name"`
		Tags     []orgTag `json:"Tags"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: orgInvalid}
	if v.required("ParentId", req.ParentId) {
		v.pattern("ParentId", req.ParentId, reParentID)
	}
	if v.required("Name", req.Name) {
		v.length("Name", req.Name, 1, 128)
	}
	v.tags(req.Tags, 0)
	if v.err != nil {
		return nil, v.err
	}
	if ok, err := s.parentExists(ctx, tx, *req.ParentId); err != nil || !ok {
		return nil, firstErr(err, orgNotFound("ParentNotFoundException", "no root or OU "+*req.ParentId))
	}
	d, err := s.depth(ctx, tx, *req.ParentId)
	if err != nil {
		return nil, err
	}
	if d+1 > maxOUDepth {
		return nil, &apiError{Status: 400, Code: "ConstraintViolationException", Message: "OUs can be nested at most 5 levels deep",
			Extra: map[string]string{"Reason": "OU_DEPTH_LIMIT_EXCEEDED"}}
	}
	if dup, err := exists(ctx, tx, `SELECT COUNT(*) FROM units WHERE parent_id = ? AND name = ?`, *req.ParentId, *req.Name); err != nil || dup {
		return nil, firstErr(err, &apiError{Status: 400, Code: "DuplicateOrganizationalUnitException", Message: "an OU named " + *req.Name + " already exists in " + *req.ParentId})
	}
	id := "ou-" + strings.TrimPrefix(s.rootID, "r-") + "-" + randomID(lowerAlnum, 8)
	if _, err := tx.ExecContext(ctx, `INSERT INTO units (id, parent_id, name) VALUES (?, ?, ?)`, id, *req.ParentId, *req.Name); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO policy_attachments (policy_id, target_id) VALUES (?, ?)`, fullAWSAccessID, id); err != nil {
		return nil, err
	}
	if err := putTags(ctx, tx, id, req.Tags); err != nil {
		return nil, err
	}
	return map[string]any{"OrganizationalUnit": s.unitJSON(id, *req.Name)}, nil
}

func orgListParents(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		ChildId    *string `json:"ChildId"`
		NextToken  *string `json:"NextToken"`
		MaxResults *int    `json:"MaxResults"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: orgInvalid}
	if v.required("ChildId", req.ChildId) {
		v.pattern("ChildId", req.ChildId, reChildID)
	}
	if v.err != nil {
		return nil, v.err
	}
	p, err := parsePage(req.NextToken, req.MaxResults, orgDefaultListResults, 20, func(m string) error { return orgInvalid("", "INVALID_NEXT_TOKEN", m) })
	if err != nil {
		return nil, err
	}
	if tok := s.emptyPage(p); tok != nil {
		return map[string]any{"Parents": []map[string]string{}, "NextToken": tok}, nil
	}
	var parent string
	err = tx.QueryRowContext(ctx, `SELECT parent_id FROM accounts WHERE id = ? UNION ALL SELECT parent_id FROM units WHERE id = ?`, *req.ChildId, *req.ChildId).Scan(&parent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, orgNotFound("ChildNotFoundException", "no account or OU "+*req.ChildId)
	}
	if err != nil {
		return nil, err
	}
	typ := "ORGANIZATIONAL_UNIT"
	if parent == s.rootID {
		typ = "ROOT"
	}
	if p.offset > 0 {
		return map[string]any{"Parents": []map[string]string{}}, nil
	}
	return map[string]any{"Parents": []map[string]string{{"Id": parent, "Type": typ}}}, nil
}

func orgMoveAccount(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		AccountId           *string `json:"AccountId"`
		SourceParentId      *string `json:"SourceParentId"`
		DestinationParentId *string `json:"DestinationParentId"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := validAccountID("AccountId", req.AccountId); err != nil {
		return nil, err
	}
	v := validator{invalid: orgInvalid}
	for _, f := range []struct {
		name string
		val  *string
	}{{"SourceParentId", req.SourceParentId}, {"DestinationParentId", req.DestinationParentId}} {
		if v.required(f.name, f.val) {
			v.pattern(f.name, f.val, reParentID)
		}
	}
	if v.err != nil {
		return nil, v.err
	}
	_, parent, err := s.loadAccount(ctx, tx, *req.AccountId)
	if err != nil {
		return nil, err
	}
	if ok, err := s.parentExists(ctx, tx, *req.DestinationParentId); err != nil || !ok {
		return nil, firstErr(err, orgNotFound("DestinationParentNotFoundException", "no root or OU "+*req.DestinationParentId))
	}
	if parent == *req.DestinationParentId {
		return nil, &apiError{Status: 400, Code: "DuplicateAccountException", Message: "that account is already present in the specified destination"}
	}
	if parent != *req.SourceParentId {
		return nil, orgNotFound("SourceParentNotFoundException", "account "+*req.AccountId+" is not in "+*req.SourceParentId)
	}
	_, err = tx.ExecContext(ctx, `UPDATE accounts SET parent_id = ? WHERE id = ?`, *req.DestinationParentId, *req.AccountId)
	return struct{}{}, err
}

type policySummary struct {
	Id          string `json:"Id"`
	Arn         string `json:"Arn"`
	Name        string `json:"Name"`
	Description string `json:"Description"`
	Type        string `json:"Type"`
	AwsManaged  bool   `json:"AwsManaged"`
}

func (s *Server) policyARN(id string) string {
	return fmt.Sprintf("arn:aws:organizations::%s:policy/o-%s/service_control_policy/%s", s.managementAccount(), strings.TrimPrefix(s.rootID, "r-"), id)
}

func (s *Server) listPolicies(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]policySummary, error) {
	return queryAll(ctx, tx, func(rows *sql.Rows) (policySummary, error) {
		var p policySummary
		err := rows.Scan(&p.Id, &p.Name, &p.Description, &p.Type)
		p.Arn, p.AwsManaged = s.policyARN(p.Id), p.Id == fullAWSAccessID
		return p, err
	}, query, args...)
}

func validPolicyType(v *validator, field string, val *string) {
	if v.required(field, val) {
		v.oneOf(field, val, "SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY", "TAG_POLICY", "BACKUP_POLICY", "AISERVICES_OPT_OUT_POLICY")
	}
}

func orgListPolicies(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		Filter     *string `json:"Filter"`
		NextToken  *string `json:"NextToken"`
		MaxResults *int    `json:"MaxResults"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: orgInvalid}
	validPolicyType(&v, "Filter", req.Filter)
	if v.err != nil {
		return nil, v.err
	}
	p, err := parsePage(req.NextToken, req.MaxResults, orgDefaultListResults, 20, func(m string) error { return orgInvalid("", "INVALID_NEXT_TOKEN", m) })
	if err != nil {
		return nil, err
	}
	if tok := s.emptyPage(p); tok != nil {
		return map[string]any{"Policies": []policySummary{}, "NextToken": tok}, nil
	}
	ps, err := s.listPolicies(ctx, tx, `SELECT id, name, description, type FROM policies WHERE type = ? ORDER BY id LIMIT ? OFFSET ?`, *req.Filter, p.limit+1, p.offset)
	if err != nil {
		return nil, err
	}
	ps, next := trimPage(p, ps)
	return map[string]any{"Policies": ps, "NextToken": next}, nil
}

func orgCreatePolicy(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		Content     *string  `json:"Content"`
		Description *string  `json:"Description"`
		Name        *string  `json:"Name"`
		Type        *string  `json:"Type"`
		Tags        []orgTag `json:"Tags"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: orgInvalid}
	if v.required("Name", req.Name) {
		v.length("Name", req.Name, 1, 128)
	}
	if v.required("Description", req.Description) {
		v.length("Description", req.Description, 0, 512)
	}
	validPolicyType(&v, "Type", req.Type)
	v.required("Content", req.Content)
	v.tags(req.Tags, 0)
	if v.err != nil {
		return nil, v.err
	}
	if len([]rune(*req.Content)) > maxSCPContentChars {
		return nil, &apiError{Status: 400, Code: "ConstraintViolationException", Message: "a policy document may hold at most 5,120 characters",
			Extra: map[string]string{"Reason": "POLICY_CONTENT_LIMIT_EXCEEDED"}}
	}
	var doc struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(*req.Content), &doc); err != nil || doc.Version == "" || len(doc.Statement) == 0 {
		return nil, &apiError{Status: 400, Code: "MalformedPolicyDocumentException", Message: "the policy document is not JSON with Version and Statement"}
	}
	if dup, err := exists(ctx, tx, `SELECT COUNT(*) FROM policies WHERE name = ?`, *req.Name); err != nil || dup {
		return nil, firstErr(err, &apiError{Status: 400, Code: "DuplicatePolicyException", Message: "a policy named " + *req.Name + " already exists"})
	}
	id := "p-" + randomID(lowerAlnum, 8)
	if _, err := tx.ExecContext(ctx, `INSERT INTO policies (id, name, description, type, content) VALUES (?, ?, ?, ?, ?)`,
		id, *req.Name, *req.Description, *req.Type, *req.Content); err != nil {
		return nil, err
	}
	if err := putTags(ctx, tx, id, req.Tags); err != nil {
		return nil, err
	}
	return map[string]any{"Policy": map[string]any{
		"Content":       *req.Content,
		"PolicySummary": policySummary{Id: id, Arn: s.policyARN(id), Name: *req.Name, Description: *req.Description, Type: *req.Type},
	}}, nil
}

// targetExists reports whether id is the root, a unit or an account.
func (s *Server) targetExists(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	if id == s.rootID {
		return true, nil
	}
	return exists(ctx, tx, `SELECT (SELECT COUNT(*) FROM units WHERE id = ?) + (SELECT COUNT(*) FROM accounts WHERE id = ?)`, id, id)
}

// policyTarget decodes and checks AttachPolicy's and DetachPolicy's
// input: a policy and a target that both exist.
func (s *Server) policyTarget(ctx context.Context, tx *sql.Tx, in []byte) (policyID, targetID string, err error) {
	var req struct {
		PolicyId *string `json:"PolicyId"`
		TargetId *string `json:"TargetId"`
	}
	if err := decode(in, &req); err != nil {
		return "", "", err
	}
	v := validator{invalid: orgInvalid}
	if v.required("PolicyId", req.PolicyId) {
		v.pattern("PolicyId", req.PolicyId, rePolicyID)
	}
	if v.required("TargetId", req.TargetId) {
		v.pattern("TargetId", req.TargetId, reTargetID)
	}
	if v.err != nil {
		return "", "", v.err
	}
	if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM policies WHERE id = ?`, *req.PolicyId); err != nil || !ok {
		return "", "", firstErr(err, orgNotFound("PolicyNotFoundException", "no policy "+*req.PolicyId))
	}
	if ok, err := s.targetExists(ctx, tx, *req.TargetId); err != nil || !ok {
		return "", "", firstErr(err, orgNotFound("TargetNotFoundException", "no root, OU or account "+*req.TargetId))
	}
	return *req.PolicyId, *req.TargetId, nil
}

func orgAttachPolicy(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	policyID, targetID, err := s.policyTarget(ctx, tx, in)
	if err != nil {
		return nil, err
	}
	if dup, err := exists(ctx, tx, `SELECT COUNT(*) FROM policy_attachments WHERE policy_id = ? AND target_id = ?`, policyID, targetID); err != nil || dup {
		return nil, firstErr(err, &apiError{Status: 400, Code: "DuplicatePolicyAttachmentException", Message: "the policy is already attached to " + targetID})
	}
	var attached int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM policy_attachments WHERE target_id = ?`, targetID).Scan(&attached); err != nil {
		return nil, err
	}
	if attached >= maxSCPsPerTarget {
		return nil, &apiError{Status: 400, Code: "ConstraintViolationException", Message: "at most 5 service control policies can be attached to one target",
			Extra: map[string]string{"Reason": "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"}}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO policy_attachments (policy_id, target_id) VALUES (?, ?)`, policyID, targetID)
	return struct{}{}, err
}

func orgDetachPolicy(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	policyID, targetID, err := s.policyTarget(ctx, tx, in)
	if err != nil {
		return nil, err
	}
	if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM policy_attachments WHERE policy_id = ? AND target_id = ?`, policyID, targetID); err != nil || !ok {
		return nil, firstErr(err, orgNotFound("PolicyNotAttachedException", "policy "+policyID+" is not attached to "+targetID))
	}
	var attached int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM policy_attachments WHERE target_id = ?`, targetID).Scan(&attached); err != nil {
		return nil, err
	}
	if attached <= 1 {
		return nil, &apiError{Status: 400, Code: "ConstraintViolationException", Message: "a target must keep at least one service control policy",
			Extra: map[string]string{"Reason": "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"}}
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM policy_attachments WHERE policy_id = ? AND target_id = ?`, policyID, targetID)
	return struct{}{}, err
}

func orgListPoliciesForTarget(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		TargetId   *string `json:"TargetId"`
		Filter     *string `json:"Filter"`
		NextToken  *string `json:"NextToken"`
		MaxResults *int    `json:"MaxResults"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: orgInvalid}
	if v.required("TargetId", req.TargetId) {
		v.pattern("TargetId", req.TargetId, reTargetID)
	}
	validPolicyType(&v, "Filter", req.Filter)
	if v.err != nil {
		return nil, v.err
	}
	p, err := parsePage(req.NextToken, req.MaxResults, orgDefaultListResults, 20, func(m string) error { return orgInvalid("", "INVALID_NEXT_TOKEN", m) })
	if err != nil {
		return nil, err
	}
	if tok := s.emptyPage(p); tok != nil {
		return map[string]any{"Policies": []policySummary{}, "NextToken": tok}, nil
	}
	if ok, err := s.targetExists(ctx, tx, *req.TargetId); err != nil || !ok {
		return nil, firstErr(err, orgNotFound("TargetNotFoundException", "no root, OU or account "+*req.TargetId))
	}
	ps, err := s.listPolicies(ctx, tx, `SELECT p.id, p.name, p.description, p.type FROM policies p JOIN policy_attachments a ON a.policy_id = p.id
		WHERE a.target_id = ? AND p.type = ? ORDER BY p.id LIMIT ? OFFSET ?`, *req.TargetId, *req.Filter, p.limit+1, p.offset)
	if err != nil {
		return nil, err
	}
	ps, next := trimPage(p, ps)
	return map[string]any{"Policies": ps, "NextToken": next}, nil
}

// reTag is what AWS allows in tag keys and values: letters, spaces and
// numbers of any script, and _ . : / = + - @.
var reTag = regexp.MustCompile(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)

// tags validates tags about to be put on a resource that carries existing,
// as AWS does: keys of 1–128 and values of 0–256 characters from reTag,
// no key twice, no key of AWS's own (aws:).
func (v *validator) tags(tags []orgTag, existing int) {
	if v.err == nil && len(tags)+existing > maxTagsPerResource {
		v.err = &apiError{Status: 400, Code: "ConstraintViolationException", Message: "a resource may carry at most 50 tags",
			Extra: map[string]string{"Reason": "MAX_TAG_LIMIT_EXCEEDED"}}
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if v.required("Tags.Key", t.Key) {
			v.length("Tags.Key", t.Key, 1, 128)
			v.pattern("Tags.Key", t.Key, reTag)
			if v.err == nil && strings.HasPrefix(strings.ToLower(*t.Key), "aws:") {
				v.err = orgInvalid("Tags.Key", "INVALID_SYSTEM_TAGS_PARAMETER", "tag keys starting with aws: are reserved for AWS")
			}
			if v.err == nil && seen[*t.Key] {
				v.err = orgInvalid("Tags.Key", "DUPLICATE_TAG_KEY", "tag key "+*t.Key+" is given twice")
			}
			seen[deref(t.Key)] = true
		}
		if v.err == nil && t.Value == nil {
			v.err = orgInvalid("Tags.Value", "INPUT_REQUIRED", "Tags.Value is required")
		}
		v.length("Tags.Value", t.Value, 0, 256)
		v.pattern("Tags.Value", t.Value, reTag)
	}
}

func putTags(ctx context.Context, tx *sql.Tx, resource string, tags []orgTag) error {
	for _, t := range tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tags (resource_id, key, value) VALUES (?, ?, ?) ON CONFLICT (resource_id, key) DO UPDATE SET value = excluded.value`,
			resource, *t.Key, deref(t.Value)); err != nil {
			return err
		}
	}
	return nil
}

func orgTagResource(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		ResourceId *string  `json:"ResourceId"`
		Tags       []orgTag `json:"Tags"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: orgInvalid}
	v.required("ResourceId", req.ResourceId)
	if len(req.Tags) == 0 && v.err == nil {
		v.err = orgInvalid("Tags", "INPUT_REQUIRED", "Tags is required")
	}
	if v.err != nil {
		return nil, v.err
	}
	ok, err := s.targetExists(ctx, tx, *req.ResourceId)
	if err == nil && !ok {
		ok, err = exists(ctx, tx, `SELECT COUNT(*) FROM policies WHERE id = ?`, *req.ResourceId)
	}
	if err != nil || !ok {
		return nil, firstErr(err, orgNotFound("TargetNotFoundException", "no resource "+*req.ResourceId))
	}
	// The limit is on the tags the resource ends up with: a key given
	// again replaces its value and counts once.
	existing, err := queryAll(ctx, tx, scanString, `SELECT key FROM tags WHERE resource_id = ?`, *req.ResourceId)
	if err != nil {
		return nil, err
	}
	kept := 0
	for _, k := range existing {
		if !slices.ContainsFunc(req.Tags, func(t orgTag) bool { return deref(t.Key) == k }) {
			kept++
		}
	}
	v.tags(req.Tags, kept)
	if v.err != nil {
		return nil, v.err
	}
	return struct{}{}, putTags(ctx, tx, *req.ResourceId, req.Tags)
}

func orgListTagsForResource(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		ResourceId *string `json:"ResourceId"`
		NextToken  *string `json:"NextToken"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: orgInvalid}
	v.required("ResourceId", req.ResourceId)
	if v.err != nil {
		return nil, v.err
	}
	tags, err := queryAll(ctx, tx, func(rows *sql.Rows) (map[string]string, error) {
		var k, val string
		err := rows.Scan(&k, &val)
		return map[string]string{"Key": k, "Value": val}, err
	}, `SELECT key, value FROM tags WHERE resource_id = ? ORDER BY key`, *req.ResourceId)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Tags": tags}, nil
}

func orgCloseAccount(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		AccountId *string `json:"AccountId"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := validAccountID("AccountId", req.AccountId); err != nil {
		return nil, err
	}
	if *req.AccountId == s.managementAccount() {
		return nil, &apiError{Status: 400, Code: "ConstraintViolationException", Message: "the management account cannot be closed this way",
			Extra: map[string]string{"Reason": "CANNOT_CLOSE_MANAGEMENT_ACCOUNT"}}
	}
	a, _, err := s.loadAccount(ctx, tx, *req.AccountId)
	if err != nil {
		return nil, err
	}
	switch a.Status {
	case "PENDING_CLOSURE":
		// AWS: the account is being closed; the request conflicts with it.
		return nil, &apiError{Status: 400, Code: "ConflictException", Message: "account " + a.Id + " is already being closed"}
	case "SUSPENDED":
		return nil, &apiError{Status: 400, Code: "AccountAlreadyClosedException", Message: "account " + a.Id + " is already closed"}
	}
	now := s.cfg.Now()
	var closed, members int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM closures WHERE requested_at > ?`, now.Add(-closureWindow).UnixNano()).Scan(&closed); err != nil {
		return nil, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE status = 'ACTIVE'`).Scan(&members); err != nil {
		return nil, err
	}
	if quota := s.closureQuota(members); closed >= quota {
		return nil, &apiError{Status: 400, Code: "ConstraintViolationException", Extra: map[string]string{"Reason": "CLOSE_ACCOUNT_QUOTA_EXCEEDED"},
			Message: fmt.Sprintf("%d accounts were closed in the last 30 days; the quota is %d", closed, quota)}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO closures (account_id, requested_at, suspends_at) VALUES (?, ?, ?)`,
		a.Id, now.UnixNano(), now.Add(s.cfg.ClosureLatency).UnixNano()); err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE accounts SET status = 'PENDING_CLOSURE' WHERE id = ?`, a.Id)
	if err == nil && s.cfg.ClosureLatency <= 0 {
		err = s.settle(ctx, tx)
	}
	return struct{}{}, err
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// firstErr returns err when a lookup failed, otherwise the answer for a
// lookup that found nothing (or a duplicate).
func firstErr(err, answer error) error {
	if err != nil {
		return err
	}
	return answer
}

// closureWindow is the rolling period of AWS's closure quota.
const closureWindow = 30 * 24 * time.Hour

// closureQuota is how many accounts may be closed per closureWindow: the
// configured number, or AWS's 10 % of the member accounts, at least 10
// and at most 1,000.
func (s *Server) closureQuota(members int) int {
	if s.cfg.ClosureQuota > 0 {
		return s.cfg.ClosureQuota
	}
	return min(1000, max(10, members/10))
}

// emptyPage answers an injected empty page: the caller returns no items
// and this NextToken, which resumes where the page would have started, as
// AWS may answer any List call.
func (s *Server) emptyPage(p page) *string {
	if s.cfg.EmptyPageRate <= 0 || s.rng.Float64() >= s.cfg.EmptyPageRate {
		return nil
	}
	s.stats.EmptyPagesInjected++
	t := base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(p.offset)))
	return &t
}

// busyError is Organizations' "try again" for an operation, or nil when
// it declares none: CreateAccount while the organisation is finalised,
// policy attachments while an earlier policy change is applied.
func busyError(op string) error {
	switch op {
	case "CreateAccount":
		return &apiError{Status: 400, Code: "FinalizingOrganizationException", Message: "AWS Organizations could not perform the operation because your organization has not finished initializing; try again later"}
	case "AttachPolicy", "DetachPolicy":
		return &apiError{Status: 400, Code: "PolicyChangesInProgressException", Message: "changes to the effective policy are in progress; try again later"}
	}
	return nil
}

// AttachedPolicies lists the names of the SCPs attached to a root, unit
// or account, for tests and inspection.
func (s *Server) AttachedPolicies(ctx context.Context, target string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	names, err := queryAll(ctx, tx, scanString, `SELECT p.name FROM policy_attachments a JOIN policies p ON p.id = a.policy_id
		WHERE a.target_id = ? ORDER BY p.name`, target)
	if err != nil {
		return nil, fmt.Errorf("policies of %s: %w", target, err)
	}
	return names, nil
}

// AccountStatus reports an account's status (ACTIVE, PENDING_CLOSURE,
// SUSPENDED), for tests and inspection; "" when there is no such account.
func (s *Server) AccountStatus(ctx context.Context, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if err := s.settle(ctx, tx); err != nil {
		return "", err
	}
	var status string
	err = tx.QueryRowContext(ctx, `SELECT status FROM accounts WHERE id = ?`, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return status, tx.Commit()
}

// DetachForTest detaches a policy by name from a target without AWS's
// checks, as an operator's change made outside hatoba would leave it.
func (s *Server) DetachForTest(ctx context.Context, policyName, target string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.db.ExecContext(ctx, `DELETE FROM policy_attachments WHERE target_id = ? AND policy_id = (SELECT id FROM policies WHERE name = ?)`, target, policyName)
	return err
}
