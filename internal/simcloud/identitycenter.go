package simcloud

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// IAM Identity Center: sso-admin (awsJson1.1, target prefix
// SWBExternalService) and identitystore (target prefix AWSIdentityStore).
var ssoAdminOps = map[string]operation{
	"ListInstances":                              ssoListInstances,
	"CreatePermissionSet":                        ssoCreatePermissionSet,
	"ListPermissionSets":                         ssoListPermissionSets,
	"DescribePermissionSet":                      ssoDescribePermissionSet,
	"CreateAccountAssignment":                    ssoCreateAccountAssignment,
	"DescribeAccountAssignmentCreationStatus":    ssoDescribeAssignmentStatus,
	"DeleteAccountAssignment":                    ssoDeleteAccountAssignment,
	"DescribeAccountAssignmentDeletionStatus":    ssoDescribeAssignmentDeletionStatus,
	"ListAccountAssignments":                     ssoListAccountAssignments,
	"AttachManagedPolicyToPermissionSet":         ssoAttachManagedPolicy,
	"DetachManagedPolicyFromPermissionSet":       ssoDetachManagedPolicy,
	"ListManagedPoliciesInPermissionSet":         ssoListManagedPolicies,
	"PutInlinePolicyToPermissionSet":             ssoPutInlinePolicy,
	"GetInlinePolicyForPermissionSet":            ssoGetInlinePolicy,
	"DeleteInlinePolicyFromPermissionSet":        ssoDeleteInlinePolicy,
	"PutPermissionsBoundaryToPermissionSet":      ssoPutPermissionsBoundary,
	"GetPermissionsBoundaryForPermissionSet":     ssoGetPermissionsBoundary,
	"DeletePermissionsBoundaryFromPermissionSet": ssoDeletePermissionsBoundary,
	"ProvisionPermissionSet":                     ssoProvisionPermissionSet,
	"DescribePermissionSetProvisioningStatus":    ssoDescribeProvisioningStatus,
	"ListAccountsForProvisionedPermissionSet":    ssoListAccountsForProvisionedPermissionSet,
}

var identityStoreOps = map[string]operation{
	"GetGroupId":            idsGetGroupID,
	"CreateGroup":           idsCreateGroup,
	"GetUserId":             idsGetUserID,
	"CreateUser":            idsCreateUser,
	"CreateGroupMembership": idsCreateGroupMembership,
	"GetGroupMembershipId":  idsGetGroupMembershipID,
	"DeleteGroupMembership": idsDeleteGroupMembership,
}

var (
	rePermissionSetName = regexp.MustCompile(`^[\w+=,.@-]+$`)
	rePermissionSetARN  = regexp.MustCompile(`^arn:(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b):sso:::permissionSet/(sso)?ins-[a-zA-Z0-9-.]{16}/ps-[a-zA-Z0-9-./]{16}$`)
	reSessionDuration   = regexp.MustCompile(`^(-?)P(?:([.,0-9]+)Y)?(?:([.,0-9]+)M)?(?:([.,0-9]+)W)?(?:([.,0-9]+)D)?(?:T(?:([.,0-9]+)H)?(?:([.,0-9]+)M)?(?:([.,0-9]+)S)?)?$`)
	reIdentityStoreID   = regexp.MustCompile(`^d-[0-9a-f]{10}$|^[0-9a-f]{8}\b-[0-9a-f]{4}\b-[0-9a-f]{4}\b-[0-9a-f]{4}\b-[0-9a-f]{12}$`)
)

func ssoInvalid(field, reason, msg string) error {
	return &apiError{Status: 400, Code: "ValidationException", Message: msg}
}

func ssoNotFound(msg string) error {
	return &apiError{Status: 400, Code: "ResourceNotFoundException", Message: msg}
}

func (s *Server) checkInstance(arn *string) error {
	v := validator{invalid: ssoInvalid}
	v.required("InstanceArn", arn)
	if v.err != nil {
		return v.err
	}
	if *arn != s.instanceARN {
		return ssoNotFound("no Identity Center instance " + *arn)
	}
	return nil
}

func ssoListInstances(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		MaxResults *int    `json:"MaxResults"`
		NextToken  *string `json:"NextToken"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	p, err := parsePage(req.NextToken, req.MaxResults, 10, 100, func(m string) error { return ssoInvalid("NextToken", "", m) })
	if err != nil {
		return nil, err
	}
	if tok := s.emptyPage(p); tok != nil {
		return map[string]any{"Instances": []map[string]string{}, "NextToken": tok}, nil
	}
	if p.offset > 0 {
		return map[string]any{"Instances": []map[string]string{}}, nil
	}
	return map[string]any{"Instances": []map[string]string{{
		"InstanceArn": s.instanceARN, "IdentityStoreId": s.identityStoreID, "Status": "ACTIVE",
		"Name": "hatoba", "OwnerAccountId": s.managementAccount(),
	}}}, nil
}

type permissionSet struct {
	Name             string  `json:"Name"`
	PermissionSetArn string  `json:"PermissionSetArn"`
	Description      string  `json:"Description,omitempty"`
	SessionDuration  string  `json:"SessionDuration"`
	CreatedDate      float64 `json:"CreatedDate"`
}

func ssoCreatePermissionSet(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		InstanceArn     *string           `json:"InstanceArn"`
		Name            *string           `json:"Name"`
		Description     *string           `json:"Description"`
		SessionDuration *string           `json:"SessionDuration"`
		RelayState      *string           `json:"RelayState"`
		Tags            []json.RawMessage `json:"Tags"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := s.checkInstance(req.InstanceArn); err != nil {
		return nil, err
	}
	v := validator{invalid: ssoInvalid}
	if v.required("Name", req.Name) {
		v.length("Name", req.Name, 1, 32)
		v.pattern("Name", req.Name, rePermissionSetName)
	}
	v.length("Description", req.Description, 1, 700)
	v.pattern("SessionDuration", req.SessionDuration, reSessionDuration)
	if v.err != nil {
		return nil, v.err
	}
	var createdAt int64
	switch err := tx.QueryRowContext(ctx, `SELECT created_at FROM permission_sets WHERE name = ?`, *req.Name).Scan(&createdAt); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	case createdAt > s.visibleSince():
		// AWS's answer while an earlier creation has not propagated: the
		// name is taken but no list shows it yet.
		return nil, &apiError{Status: 400, Code: "ConflictException", Message: "Operation on " + *req.Name + " is in progress or has not propagated yet; try again"}
	default:
		return nil, &apiError{Status: 400, Code: "ConflictException", Message: "a permission set named " + *req.Name + " already exists"}
	}
	ps := permissionSet{
		Name: *req.Name, Description: deref(req.Description), SessionDuration: "PT1H",
		PermissionSetArn: fmt.Sprintf("arn:aws:sso:::permissionSet/%s/ps-%s", s.instanceARN[len("arn:aws:sso:::instance/"):], randomID(hexDigits, 16)),
		CreatedDate:      epoch(s.cfg.Now().UnixNano()),
	}
	if req.SessionDuration != nil {
		ps.SessionDuration = *req.SessionDuration
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO permission_sets (arn, name, description, session_duration, created_at) VALUES (?, ?, ?, ?, ?)`,
		ps.PermissionSetArn, ps.Name, ps.Description, ps.SessionDuration, s.cfg.Now().UnixNano()); err != nil {
		return nil, err
	}
	return map[string]any{"PermissionSet": ps}, nil
}

func ssoListPermissionSets(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		InstanceArn *string `json:"InstanceArn"`
		MaxResults  *int    `json:"MaxResults"`
		NextToken   *string `json:"NextToken"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := s.checkInstance(req.InstanceArn); err != nil {
		return nil, err
	}
	p, err := parsePage(req.NextToken, req.MaxResults, 100, 100, func(m string) error { return ssoInvalid("NextToken", "", m) })
	if err != nil {
		return nil, err
	}
	arns, err := queryAll(ctx, tx, scanString, `SELECT arn FROM permission_sets WHERE created_at <= ? ORDER BY created_at, arn LIMIT ? OFFSET ?`,
		s.visibleSince(), p.limit+1, p.offset)
	if err != nil {
		return nil, err
	}
	arns, next := trimPage(p, arns)
	return map[string]any{"PermissionSets": arns, "NextToken": next}, nil
}

func (s *Server) loadPermissionSet(ctx context.Context, tx *sql.Tx, arn *string) (permissionSet, error) {
	v := validator{invalid: ssoInvalid}
	if v.required("PermissionSetArn", arn) {
		v.pattern("PermissionSetArn", arn, rePermissionSetARN)
	}
	if v.err != nil {
		return permissionSet{}, v.err
	}
	ps := permissionSet{PermissionSetArn: *arn}
	var created int64
	err := tx.QueryRowContext(ctx, `SELECT name, description, session_duration, created_at FROM permission_sets WHERE arn = ?`, *arn).
		Scan(&ps.Name, &ps.Description, &ps.SessionDuration, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return ps, ssoNotFound("no permission set " + *arn)
	}
	ps.CreatedDate = epoch(created)
	return ps, err
}

func ssoDescribePermissionSet(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		InstanceArn      *string `json:"InstanceArn"`
		PermissionSetArn *string `json:"PermissionSetArn"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := s.checkInstance(req.InstanceArn); err != nil {
		return nil, err
	}
	ps, err := s.loadPermissionSet(ctx, tx, req.PermissionSetArn)
	if err != nil {
		return nil, err
	}
	return map[string]any{"PermissionSet": ps}, nil
}

func ssoListAccountAssignments(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		InstanceArn      *string `json:"InstanceArn"`
		AccountId        *string `json:"AccountId"`
		PermissionSetArn *string `json:"PermissionSetArn"`
		MaxResults       *int    `json:"MaxResults"`
		NextToken        *string `json:"NextToken"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := s.checkInstance(req.InstanceArn); err != nil {
		return nil, err
	}
	v := validator{invalid: ssoInvalid}
	if v.required("AccountId", req.AccountId) {
		v.pattern("AccountId", req.AccountId, reAccountID)
	}
	if v.err != nil {
		return nil, v.err
	}
	if _, err := s.loadPermissionSet(ctx, tx, req.PermissionSetArn); err != nil {
		return nil, err
	}
	p, err := parsePage(req.NextToken, req.MaxResults, 100, 100, func(m string) error { return ssoInvalid("NextToken", "", m) })
	if err != nil {
		return nil, err
	}
	out, err := queryAll(ctx, tx, func(rows *sql.Rows) (map[string]string, error) {
		var typ, id string
		err := rows.Scan(&typ, &id)
		return map[string]string{"AccountId": *req.AccountId, "PermissionSetArn": *req.PermissionSetArn, "PrincipalType": typ, "PrincipalId": id}, err
	}, `SELECT principal_type, principal_id FROM assignments WHERE account_id = ? AND permission_set_arn = ?
		ORDER BY principal_type, principal_id LIMIT ? OFFSET ?`, *req.AccountId, *req.PermissionSetArn, p.limit+1, p.offset)
	if err != nil {
		return nil, err
	}
	out, next := trimPage(p, out)
	return map[string]any{"AccountAssignments": out, "NextToken": next}, nil
}

func (s *Server) checkIdentityStore(id *string) error {
	v := validator{invalid: ssoInvalid}
	if v.required("IdentityStoreId", id) {
		v.pattern("IdentityStoreId", id, reIdentityStoreID)
	}
	if v.err != nil {
		return v.err
	}
	if *id != s.identityStoreID {
		// AWS names the resource type: an unknown store is not an absent
		// user, group or membership.
		return idsNotFound("IDENTITY_STORE", *id, "no identity store "+*id)
	}
	return nil
}

func idsGetGroupID(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		IdentityStoreId     *string `json:"IdentityStoreId"`
		AlternateIdentifier *struct {
			UniqueAttribute *struct {
				AttributePath  *string          `json:"AttributePath"`
				AttributeValue *json.RawMessage `json:"AttributeValue"`
			} `json:"UniqueAttribute"`
		} `json:"AlternateIdentifier"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := s.checkIdentityStore(req.IdentityStoreId); err != nil {
		return nil, err
	}
	if req.AlternateIdentifier == nil || req.AlternateIdentifier.UniqueAttribute == nil ||
		req.AlternateIdentifier.UniqueAttribute.AttributePath == nil || req.AlternateIdentifier.UniqueAttribute.AttributeValue == nil {
		return nil, ssoInvalid("AlternateIdentifier", "", "AlternateIdentifier.UniqueAttribute with AttributePath and AttributeValue is required")
	}
	ua := req.AlternateIdentifier.UniqueAttribute
	if *ua.AttributePath != "displayName" {
		return nil, ssoInvalid("AttributePath", "", "the simulated identity store looks groups up by displayName only")
	}
	var name string
	if err := json.Unmarshal(*ua.AttributeValue, &name); err != nil || name == "" {
		return nil, ssoInvalid("AttributeValue", "", "AttributeValue must be a non-empty string")
	}
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM groups WHERE display_name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, idsNotFound("GROUP", "", "no group with displayName "+name)
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"GroupId": id, "IdentityStoreId": s.identityStoreID}, nil
}

func idsCreateGroup(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		IdentityStoreId *string `json:"IdentityStoreId"`
		DisplayName     *string `json:"DisplayName"`
		Description     *string `json:"Description"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := s.checkIdentityStore(req.IdentityStoreId); err != nil {
		return nil, err
	}
	v := validator{invalid: ssoInvalid}
	if v.required("DisplayName", req.DisplayName) {
		v.length("DisplayName", req.DisplayName, 1, 1024)
	}
	v.length("Description", req.Description, 1, 1024)
	if v.err != nil {
		return nil, v.err
	}
	if dup, err := exists(ctx, tx, `SELECT COUNT(*) FROM groups WHERE display_name = ?`, *req.DisplayName); err != nil || dup {
		return nil, firstErr(err, idsConflict("a group named "+*req.DisplayName+" already exists"))
	}
	id := uuid()
	if _, err := tx.ExecContext(ctx, `INSERT INTO groups (id, display_name, description) VALUES (?, ?, ?)`, id, *req.DisplayName, deref(req.Description)); err != nil {
		return nil, err
	}
	return map[string]string{"GroupId": id, "IdentityStoreId": s.identityStoreID}, nil
}
