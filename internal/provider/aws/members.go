package aws

import (
	"context"
	"errors"
	"slices"
	"strings"
	"unicode"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/identitystore/document"
	idstypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// People are Identity Store users whose UserName is their hatoba person id:
// a display name may change or repeat, the id never does, so a user created
// by an attempt whose answer was lost is found again instead of duplicated.
// Group and user ids are not cached: there are two groups per account and
// one user per person, so a cache would grow without bound, and these calls
// run once per assignment, not once per vending.

// AddGroupMember implements provider.Provider.
func (d *Driver) AddGroupMember(ctx context.Context, group string, p provider.Person) error {
	_, storeID, err := d.instance(ctx)
	if err != nil {
		return err
	}
	// The group exists once the environment's permission sets are assigned;
	// creating it here when missing keeps this call independent of order,
	// and AssignAccess finds it later.
	groupID, err := d.group(ctx, storeID, group)
	if err != nil {
		return err
	}
	userID, err := d.ensureUser(ctx, storeID, p)
	if err != nil {
		return err
	}
	err = d.retry(ctx, func() error {
		_, err := d.ids.CreateGroupMembership(ctx, &identitystore.CreateGroupMembershipInput{IdentityStoreId: awssdk.String(storeID),
			GroupId: awssdk.String(groupID), MemberId: &idstypes.MemberIdMemberUserId{Value: userID}})
		return classify("CreateGroupMembership", err)
	})
	if isDuplicate(err) {
		// Identity Store answers ConflictException both for a membership
		// that exists and for a concurrent change (retried above); only
		// the first is done.
		id, ferr := d.findMembership(ctx, storeID, groupID, userID)
		if ferr != nil {
			return ferr
		}
		if id != "" {
			return nil
		}
	}
	return err
}

// RemoveGroupMember implements provider.Provider.
func (d *Driver) RemoveGroupMember(ctx context.Context, group, personID string) error {
	_, storeID, err := d.instance(ctx)
	if err != nil {
		return err
	}
	userID, err := d.findUser(ctx, storeID, personID)
	if err != nil || userID == "" {
		return err
	}
	groupID, err := d.findGroup(ctx, storeID, group)
	if err != nil || groupID == "" {
		return err
	}
	membershipID, err := d.findMembership(ctx, storeID, groupID, userID)
	if err != nil || membershipID == "" {
		return err
	}
	_, err = d.ids.DeleteGroupMembership(ctx, &identitystore.DeleteGroupMembershipInput{IdentityStoreId: awssdk.String(storeID),
		MembershipId: awssdk.String(membershipID)})
	if absent(err, idstypes.ResourceTypeGroupMembership) {
		return nil // removed by an earlier attempt whose answer was lost
	}
	return classify("DeleteGroupMembership", err)
}

// findUser returns the Identity Store user id of the person, or "" when
// there is no user for them yet.
func (d *Driver) findUser(ctx context.Context, storeID, personID string) (string, error) {
	out, err := d.ids.GetUserId(ctx, &identitystore.GetUserIdInput{IdentityStoreId: awssdk.String(storeID),
		AlternateIdentifier: &idstypes.AlternateIdentifierMemberUniqueAttribute{Value: idstypes.UniqueAttribute{
			AttributePath: awssdk.String("userName"), AttributeValue: document.NewLazyDocument(personID)}}})
	if absent(err, idstypes.ResourceTypeUser) {
		return "", nil
	}
	if err != nil {
		return "", classify("GetUserId", err)
	}
	return awssdk.ToString(out.UserId), nil
}

func (d *Driver) ensureUser(ctx context.Context, storeID string, p provider.Person) (string, error) {
	find := func() (string, error) { return d.findUser(ctx, storeID, p.ID) }
	var createErr error
	id, err := d.findOrCreate(ctx, "CreateUser", find, func() (string, bool, error) {
		family, given := splitName(p.DisplayName)
		in := &identitystore.CreateUserInput{IdentityStoreId: awssdk.String(storeID), UserName: awssdk.String(p.ID),
			DisplayName: awssdk.String(p.DisplayName),
			Name:        &idstypes.Name{Formatted: awssdk.String(p.DisplayName), FamilyName: awssdk.String(family), GivenName: awssdk.String(given)}}
		if p.Email != "" {
			in.Emails = []idstypes.Email{{Value: awssdk.String(p.Email), Type: awssdk.String("work"), Primary: true}}
		}
		var out *identitystore.CreateUserOutput
		err := d.retry(ctx, func() (err error) {
			out, err = d.ids.CreateUser(ctx, in)
			return classify("CreateUser", err)
		})
		if err != nil {
			// Another worker created the same person between our look and
			// our create: look again. A concurrent modification was
			// retried above.
			createErr = err
			return "", isDuplicate(err), createErr
		}
		return awssdk.ToString(out.UserId), false, nil
	})
	if err == nil && id == "" {
		// A conflict that was not another worker's user (a concurrent
		// modification): the classified, transient error says so.
		return "", createErr
	}
	return id, err
}

// splitName gives Identity Center the family and given names it requires
// from hatoba's one display name. Japanese names are written family name
// first ("山田 太郎"), so the first word is the family name; a name of one
// word stands for both. The names are for display only: people are found
// by UserName.
func splitName(display string) (family, given string) {
	display = strings.TrimSpace(display)
	i := strings.IndexFunc(display, unicode.IsSpace)
	if i < 0 {
		return display, display
	}
	return display[:i], strings.TrimSpace(display[i:])
}

// findMembership returns the id of the user's membership in the group, or
// "" when the user is not a member.
func (d *Driver) findMembership(ctx context.Context, storeID, groupID, userID string) (string, error) {
	out, err := d.ids.GetGroupMembershipId(ctx, &identitystore.GetGroupMembershipIdInput{IdentityStoreId: awssdk.String(storeID),
		GroupId: awssdk.String(groupID), MemberId: &idstypes.MemberIdMemberUserId{Value: userID}})
	if absent(err, idstypes.ResourceTypeGroupMembership, idstypes.ResourceTypeGroup, idstypes.ResourceTypeUser) {
		return "", nil // no such membership, or its group or user is gone: not a member
	}
	if err != nil {
		return "", classify("GetGroupMembershipId", err)
	}
	return awssdk.ToString(out.MembershipId), nil
}

// absent reports whether err is Identity Store's ResourceNotFoundException
// about one of the resource types asked about. Any other not-found — an
// unknown identity store above all — is an error: read as "absent", a
// removal from a store that is not the one configured would be reported
// done while the person keeps their access.
func absent(err error, types ...idstypes.ResourceType) bool {
	var nf *idstypes.ResourceNotFoundException
	return errors.As(err, &nf) && slices.Contains(types, nf.ResourceType)
}
