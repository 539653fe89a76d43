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

// Identity Store users and group memberships: what the aws driver needs to
// put a person into an account's group and take them out. Users are found
// by userName; memberships by group and user. The answers and errors have
// AWS's shapes: ResourceNotFoundException names the ResourceType and
// ResourceId, ConflictException a Reason.

var (
	// reResourceID is the shape of user, group and membership ids.
	reResourceID = regexp.MustCompile(`^([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$`)
	reUserName   = regexp.MustCompile(`^[\p{L}\p{M}\p{S}\p{N}\p{P}]+$`)
	// reIDSText is AWS's pattern for names and descriptions: it allows
	// spaces, including the ideographic space of Japanese names.
	reIDSText = regexp.MustCompile("^[\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}\\t\\n\\r \u00a0\u3000]+$")
)

// reservedUserNames may not name users or groups in Identity Center.
var reservedUserNames = []string{"Administrator", "AWSAdministrators"}

func idsNotFound(resourceType, id, msg string) error {
	return &apiError{Status: 400, Code: "ResourceNotFoundException", Message: msg,
		Extra: map[string]string{"ResourceType": resourceType, "ResourceId": id}}
}

func idsConflict(msg string) error {
	return &apiError{Status: 400, Code: "ConflictException", Message: msg,
		Extra: map[string]string{"Reason": "UNIQUENESS_CONSTRAINT_VIOLATION"}}
}

// uniqueAttribute is an AlternateIdentifier by unique attribute.
type uniqueAttribute struct {
	UniqueAttribute *struct {
		AttributePath  *string          `json:"AttributePath"`
		AttributeValue *json.RawMessage `json:"AttributeValue"`
	} `json:"UniqueAttribute"`
}

// value returns the attribute's string value when it is looked up by path.
func (u *uniqueAttribute) value(path string) (string, error) {
	if u == nil || u.UniqueAttribute == nil || u.UniqueAttribute.AttributePath == nil || u.UniqueAttribute.AttributeValue == nil {
		return "", ssoInvalid("AlternateIdentifier", "", "AlternateIdentifier.UniqueAttribute with AttributePath and AttributeValue is required")
	}
	if *u.UniqueAttribute.AttributePath != path {
		return "", ssoInvalid("AttributePath", "", "the simulated identity store looks this up by "+path+" only")
	}
	var v string
	if err := json.Unmarshal(*u.UniqueAttribute.AttributeValue, &v); err != nil || v == "" {
		return "", ssoInvalid("AttributeValue", "", "AttributeValue must be a non-empty string")
	}
	return v, nil
}

func idsGetUserID(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		IdentityStoreId     *string          `json:"IdentityStoreId"`
		AlternateIdentifier *uniqueAttribute `json:"AlternateIdentifier"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := s.checkIdentityStore(req.IdentityStoreId); err != nil {
		return nil, err
	}
	name, err := req.AlternateIdentifier.value("userName")
	if err != nil {
		return nil, err
	}
	var id string
	err = tx.QueryRowContext(ctx, `SELECT id FROM users WHERE user_name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, idsNotFound("USER", "", "no user with userName "+name)
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"UserId": id, "IdentityStoreId": s.identityStoreID}, nil
}

func idsCreateUser(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		IdentityStoreId *string `json:"IdentityStoreId"`
		UserName        *string `json:"UserName"`
		DisplayName     *string `json:"DisplayName"`
		Name            *struct {
			Formatted  *string `json:"Formatted"`
			FamilyName *string `json:"FamilyName"`
			GivenName  *string `json:"GivenName"`
		} `json:"Name"`
		Emails []struct {
			Value   *string `json:"Value"`
			Type    *string `json:"Type"`
			Primary *bool   `json:"Primary"`
		} `json:"Emails"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := s.checkIdentityStore(req.IdentityStoreId); err != nil {
		return nil, err
	}
	// Identity Center requires a user name, a display name and a given and
	// family name; the bare Identity Store API does not, but hatoba only
	// ever uses it under Identity Center.
	v := validator{invalid: ssoInvalid}
	if v.required("UserName", req.UserName) {
		v.length("UserName", req.UserName, 1, 128)
		v.pattern("UserName", req.UserName, reUserName)
	}
	if v.required("DisplayName", req.DisplayName) {
		v.length("DisplayName", req.DisplayName, 1, 1024)
		v.pattern("DisplayName", req.DisplayName, reIDSText)
	}
	if v.err == nil && req.Name == nil {
		v.err = ssoInvalid("Name", "", "Name with GivenName and FamilyName is required in IAM Identity Center")
	}
	if v.err == nil {
		for _, f := range []struct {
			field string
			val   *string
		}{{"Name.FamilyName", req.Name.FamilyName}, {"Name.GivenName", req.Name.GivenName}} {
			if v.required(f.field, f.val) {
				v.length(f.field, f.val, 1, 1024)
				v.pattern(f.field, f.val, reIDSText)
			}
		}
		v.length("Name.Formatted", req.Name.Formatted, 1, 1024)
	}
	if v.err == nil && len(req.Emails) > 1 {
		v.err = ssoInvalid("Emails", "", "Emails may hold one address")
	}
	for _, e := range req.Emails {
		if v.required("Emails.Value", e.Value) {
			v.length("Emails.Value", e.Value, 1, 1024)
		}
	}
	if v.err != nil {
		return nil, v.err
	}
	for _, r := range reservedUserNames {
		if strings.EqualFold(*req.UserName, r) {
			return nil, ssoInvalid("UserName", "", *req.UserName+" is a reserved name")
		}
	}
	if dup, err := exists(ctx, tx, `SELECT COUNT(*) FROM users WHERE user_name = ?`, *req.UserName); err != nil || dup {
		return nil, firstErr(err, idsConflict("a user named "+*req.UserName+" already exists"))
	}
	var email string
	if len(req.Emails) == 1 {
		email = *req.Emails[0].Value
	}
	id := uuid()
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, user_name, display_name, family_name, given_name, email) VALUES (?, ?, ?, ?, ?, ?)`,
		id, *req.UserName, *req.DisplayName, *req.Name.FamilyName, *req.Name.GivenName, email); err != nil {
		return nil, err
	}
	return map[string]string{"UserId": id, "IdentityStoreId": s.identityStoreID}, nil
}

// membershipRequest is the input of the operations that name a membership
// by group and member.
type membershipRequest struct {
	IdentityStoreId *string `json:"IdentityStoreId"`
	GroupId         *string `json:"GroupId"`
	MemberId        *struct {
		UserId *string `json:"UserId"`
	} `json:"MemberId"`
}

// check validates the request and that its group and user exist.
func (s *Server) checkMembershipRequest(ctx context.Context, tx *sql.Tx, req membershipRequest) (groupID, userID string, err error) {
	if err := s.checkIdentityStore(req.IdentityStoreId); err != nil {
		return "", "", err
	}
	v := validator{invalid: ssoInvalid}
	if v.required("GroupId", req.GroupId) {
		v.length("GroupId", req.GroupId, 1, 47)
		v.pattern("GroupId", req.GroupId, reResourceID)
	}
	if v.err == nil && req.MemberId == nil {
		v.err = ssoInvalid("MemberId", "", "MemberId is required")
	}
	if v.err == nil && v.required("MemberId.UserId", req.MemberId.UserId) {
		v.length("MemberId.UserId", req.MemberId.UserId, 1, 47)
		v.pattern("MemberId.UserId", req.MemberId.UserId, reResourceID)
	}
	if v.err != nil {
		return "", "", v.err
	}
	groupID, userID = *req.GroupId, *req.MemberId.UserId
	if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM groups WHERE id = ?`, groupID); err != nil || !ok {
		return "", "", firstErr(err, idsNotFound("GROUP", groupID, "no group "+groupID))
	}
	if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM users WHERE id = ?`, userID); err != nil || !ok {
		return "", "", firstErr(err, idsNotFound("USER", userID, "no user "+userID))
	}
	return groupID, userID, nil
}

func idsCreateGroupMembership(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req membershipRequest
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	groupID, userID, err := s.checkMembershipRequest(ctx, tx, req)
	if err != nil {
		return nil, err
	}
	if dup, err := exists(ctx, tx, `SELECT COUNT(*) FROM group_memberships WHERE group_id = ? AND user_id = ?`, groupID, userID); err != nil || dup {
		return nil, firstErr(err, idsConflict("Member and Group relationship already exists"))
	}
	id := uuid()
	if _, err := tx.ExecContext(ctx, `INSERT INTO group_memberships (id, group_id, user_id) VALUES (?, ?, ?)`, id, groupID, userID); err != nil {
		return nil, err
	}
	return map[string]string{"MembershipId": id, "IdentityStoreId": s.identityStoreID}, nil
}

func idsGetGroupMembershipID(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req membershipRequest
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	groupID, userID, err := s.checkMembershipRequest(ctx, tx, req)
	if err != nil {
		return nil, err
	}
	var id string
	err = tx.QueryRowContext(ctx, `SELECT id FROM group_memberships WHERE group_id = ? AND user_id = ?`, groupID, userID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, idsNotFound("GROUP_MEMBERSHIP", "", "user "+userID+" is not a member of group "+groupID)
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"MembershipId": id, "IdentityStoreId": s.identityStoreID}, nil
}

func idsDeleteGroupMembership(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		IdentityStoreId *string `json:"IdentityStoreId"`
		MembershipId    *string `json:"MembershipId"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := s.checkIdentityStore(req.IdentityStoreId); err != nil {
		return nil, err
	}
	v := validator{invalid: ssoInvalid}
	if v.required("MembershipId", req.MembershipId) {
		v.length("MembershipId", req.MembershipId, 1, 47)
		v.pattern("MembershipId", req.MembershipId, reResourceID)
	}
	if v.err != nil {
		return nil, v.err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM group_memberships WHERE id = ?`, *req.MembershipId)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return nil, firstErr(err, idsNotFound("GROUP_MEMBERSHIP", *req.MembershipId, "no group membership "+*req.MembershipId))
	}
	return map[string]any{}, nil
}

// GroupMembers lists the user names (hatoba person ids) in the group with
// this display name, for tests and inspection; empty when there is no such
// group.
func (s *Server) GroupMembers(ctx context.Context, group string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	names, err := queryAll(ctx, tx, scanString, `SELECT u.user_name FROM group_memberships m
		JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id
		WHERE g.display_name = ? ORDER BY u.user_name`, group)
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", group, err)
	}
	return names, nil
}
