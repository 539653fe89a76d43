package openstack

import (
	"context"
	"regexp"
	"sort"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

var _ provider.Inventory = (*Driver)(nil)

// ListResources implements provider.Inventory: a project's servers (Nova),
// security group rules (Neutron), volumes (Cinder), containers (Swift) and
// images (Glance) in every region of the catalog, and the application
// credentials its people made for it (Keystone), as Terraform's openstack provider names
// them, so the catalog's OpenStack controls read them as they read a plan.
// The driver's administrator lists another project's resources (Nova's
// and Cinder's all_tenants, Neutron's project_id, Swift's account
// AUTH_<project>); the public endpoints of each service are read, in
// region order.
func (d *Driver) ListResources(ctx context.Context, accountID string) ([]provider.Resource, error) {
	c, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	eps, err := d.inventoryEndpoints(ctx, c)
	if err != nil {
		return nil, err
	}
	out, err := d.listApplicationCredentials(ctx, c, accountID)
	if err != nil {
		return nil, err
	}
	for _, ep := range eps {
		sc := &gophercloud.ServiceClient{ProviderClient: c.ProviderClient, Endpoint: gophercloud.NormalizeURL(ep.url), Type: ep.kind}
		var rs []provider.Resource
		switch ep.kind {
		case "compute":
			rs, err = listServers(ctx, sc, accountID, ep.region)
		case "network":
			sc.ResourceBase = sc.Endpoint + "v2.0/"
			rs, err = listSecurityGroupRules(ctx, sc, accountID, ep.region)
		case "volume":
			rs, err = listVolumes(ctx, sc, accountID, ep.region)
		case "image":
			sc.ResourceBase = sc.Endpoint + "v2/"
			rs, err = listImages(ctx, sc, accountID, ep.region)
		case "object-store":
			sc.Endpoint = gophercloud.NormalizeURL(swiftAccountURL(ep.url, accountID))
			rs, err = listContainers(ctx, sc, ep.region)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

type inventoryEndpoint struct{ kind, region, url string }

// inventoryKinds maps the catalog's service types to the services read.
var inventoryKinds = map[string]string{
	"compute": "compute", "network": "network",
	"volumev3": "volume", "block-storage": "volume", "volume": "volume",
	"object-store": "object-store",
	"image":        "image",
}

func (d *Driver) inventoryEndpoints(ctx context.Context, c *gophercloud.ServiceClient) ([]inventoryEndpoint, error) {
	spages, err := services.List(c, services.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, classify("ListServices", err)
	}
	ss, err := services.ExtractServices(spages)
	if err != nil {
		return nil, classify("ListServices", err)
	}
	kind := map[string]string{}
	for _, s := range ss {
		if k, ok := inventoryKinds[s.Type]; ok && s.Enabled {
			kind[s.ID] = k
		}
	}
	epages, err := endpoints.List(c, endpoints.ListOpts{Availability: gophercloud.AvailabilityPublic}).AllPages(ctx)
	if err != nil {
		return nil, classify("ListEndpoints", err)
	}
	eps, err := endpoints.ExtractEndpoints(epages)
	if err != nil {
		return nil, classify("ListEndpoints", err)
	}
	var out []inventoryEndpoint
	seen := map[string]bool{}
	for _, e := range eps {
		k, ok := kind[e.ServiceID]
		if !ok || !e.Enabled || seen[k+"|"+e.Region] {
			continue // one endpoint per service and region (volumev3 and block-storage name the same Cinder)
		}
		seen[k+"|"+e.Region] = true
		out = append(out, inventoryEndpoint{kind: k, region: e.Region, url: e.URL})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].region != out[j].region {
			return out[i].region < out[j].region
		}
		return out[i].kind < out[j].kind
	})
	return out, nil
}

var swiftAccount = regexp.MustCompile(`/(AUTH_[^/]*|[%$]\((project|tenant)_id\)s)/?$`)

// swiftAccountURL is the project's Swift account at an object-store
// endpoint, whatever account (or template) the catalog's URL names.
func swiftAccountURL(endpoint, projectID string) string {
	return strings.TrimSuffix(swiftAccount.ReplaceAllString(endpoint, ""), "/") + "/AUTH_" + projectID
}

func listServers(ctx context.Context, sc *gophercloud.ServiceClient, projectID, region string) ([]provider.Resource, error) {
	pages, err := servers.List(sc, servers.ListOpts{AllTenants: true, TenantID: projectID}).AllPages(ctx)
	if err != nil {
		return nil, classify("ListServers", err)
	}
	ss, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, classify("ListServers", err)
	}
	out := make([]provider.Resource, 0, len(ss))
	for _, s := range ss {
		meta := map[string]any{}
		for k, v := range s.Metadata {
			meta[k] = v
		}
		out = append(out, provider.Resource{Type: "openstack_compute_instance_v2", ID: s.ID, Region: region,
			Config: map[string]any{"name": s.Name, "metadata": meta, "region": region}})
	}
	return out, nil
}

func listSecurityGroupRules(ctx context.Context, sc *gophercloud.ServiceClient, projectID, region string) ([]provider.Resource, error) {
	pages, err := groups.List(sc, groups.ListOpts{ProjectID: projectID}).AllPages(ctx)
	if err != nil {
		return nil, classify("ListSecurityGroups", err)
	}
	gs, err := groups.ExtractGroups(pages)
	if err != nil {
		return nil, classify("ListSecurityGroups", err)
	}
	var out []provider.Resource
	for _, g := range gs {
		for _, r := range g.Rules {
			cfg := map[string]any{"direction": r.Direction, "ethertype": r.EtherType, "security_group_id": g.ID,
				"port_range_min": r.PortRangeMin, "port_range_max": r.PortRangeMax, "region": region}
			// Absent, not empty: the controls read an absent protocol as
			// every protocol and an absent remote as any address, as
			// Neutron does.
			for k, v := range map[string]string{"protocol": r.Protocol, "remote_ip_prefix": r.RemoteIPPrefix,
				"remote_group_id": r.RemoteGroupID, "remote_address_group_id": r.RemoteAddressGroupID} {
				if v != "" {
					cfg[k] = v
				}
			}
			out = append(out, provider.Resource{Type: "openstack_networking_secgroup_rule_v2", ID: r.ID, Region: region, Config: cfg})
		}
	}
	return out, nil
}

func listVolumes(ctx context.Context, sc *gophercloud.ServiceClient, projectID, region string) ([]provider.Resource, error) {
	pages, err := volumes.List(sc, volumes.ListOpts{AllTenants: true, TenantID: projectID}).AllPages(ctx)
	if err != nil {
		return nil, classify("ListVolumes", err)
	}
	vs, err := volumes.ExtractVolumes(pages)
	if err != nil {
		return nil, classify("ListVolumes", err)
	}
	out := make([]provider.Resource, 0, len(vs))
	for _, v := range vs {
		out = append(out, provider.Resource{Type: "openstack_blockstorage_volume_v3", ID: v.ID, Region: region,
			Config: map[string]any{"name": v.Name, "volume_type": v.VolumeType, "encrypted": v.Encrypted, "size": v.Size, "region": region}})
	}
	return out, nil
}

func listContainers(ctx context.Context, sc *gophercloud.ServiceClient, region string) ([]provider.Resource, error) {
	pages, err := containers.List(sc, containers.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, classify("ListContainers", err)
	}
	cs, err := containers.ExtractInfo(pages)
	if err != nil {
		return nil, classify("ListContainers", err)
	}
	out := make([]provider.Resource, 0, len(cs))
	for _, c := range cs {
		h, err := containers.Get(ctx, sc, c.Name, nil).Extract()
		if err != nil {
			return nil, classify("GetContainer", err)
		}
		read := strings.Join(h.Read, ",")
		out = append(out, provider.Resource{Type: "openstack_objectstorage_container_v1", ID: c.Name, Region: region,
			Config: map[string]any{"name": c.Name, "container_read": read, "region": region}})
	}
	return out, nil
}

var _ provider.Describer = (*Driver)(nil)

// Capabilities implements provider.Describer.
func (d *Driver) Capabilities() provider.Capabilities {
	return provider.Capabilities{Guardrails: []string{"endpoint_regions", "project_limits", "allowed_roles"}, Inventory: []string{
		"openstack_blockstorage_volume_v3", "openstack_compute_instance_v2", "openstack_identity_application_credential_v3",
		"openstack_images_image_v2", "openstack_networking_secgroup_rule_v2", "openstack_objectstorage_container_v1"}}
}

func listImages(ctx context.Context, sc *gophercloud.ServiceClient, projectID, region string) ([]provider.Resource, error) {
	pages, err := images.List(sc, images.ListOpts{Owner: projectID}).AllPages(ctx)
	if err != nil {
		return nil, classify("ListImages", err)
	}
	is, err := images.ExtractImages(pages)
	if err != nil {
		return nil, classify("ListImages", err)
	}
	out := make([]provider.Resource, 0, len(is))
	for _, im := range is {
		if im.Owner != projectID {
			continue // Glance lists the public images of others too when asked without owner
		}
		tags := make([]any, 0, len(im.Tags))
		for _, t := range im.Tags {
			tags = append(tags, t)
		}
		out = append(out, provider.Resource{Type: "openstack_images_image_v2", ID: im.ID, Region: region,
			Config: map[string]any{"name": im.Name, "visibility": string(im.Visibility), "container_format": im.ContainerFormat,
				"disk_format": im.DiskFormat, "min_disk_gb": im.MinDiskGigabytes, "min_ram_mb": im.MinRAMMegabytes,
				"protected": im.Protected, "tags": tags, "region": region}})
	}
	return out, nil
}

// listApplicationCredentials lists the application credentials made for
// the project. Keystone keeps them per user, so the driver reads those of
// everyone with a role on the project (through its groups too) and keeps
// the project's. Their secrets are never returned by Keystone's listing.
func (d *Driver) listApplicationCredentials(ctx context.Context, c *gophercloud.ServiceClient, projectID string) ([]provider.Resource, error) {
	effective := true
	pages, err := roles.ListAssignments(c, roles.ListAssignmentsOpts{ScopeProjectID: projectID, Effective: &effective}).AllPages(ctx)
	if err != nil {
		return nil, classify("ListRoleAssignments", err)
	}
	as, err := roles.ExtractRoleAssignments(pages)
	if err != nil {
		return nil, classify("ListRoleAssignments", err)
	}
	seen := map[string]bool{}
	var out []provider.Resource
	for _, a := range as {
		if a.User.ID == "" || seen[a.User.ID] {
			continue
		}
		seen[a.User.ID] = true
		pages, err := applicationcredentials.List(c, a.User.ID, applicationcredentials.ListOpts{}).AllPages(ctx)
		if gophercloud.ResponseCodeIs(err, 404) {
			continue // the user went between the two calls
		}
		if gophercloud.ResponseCodeIs(err, 403) {
			// A Keystone that enforces scopes lets only a system-scoped
			// reader list another user's credentials: the rest of the
			// inventory still counts, and the gap is said.
			d.log.WarnContext(ctx, "openstack inventory: Keystone refused listing application credentials; they are not in the inventory (the connection needs a system-scoped reader)",
				"project", projectID)
			return out, nil
		}
		if err != nil {
			return nil, classify("ListApplicationCredentials", err)
		}
		acs, err := applicationcredentials.ExtractApplicationCredentials(pages)
		if err != nil {
			return nil, classify("ListApplicationCredentials", err)
		}
		for _, ac := range acs {
			if ac.ProjectID != projectID {
				continue
			}
			rs := make([]any, 0, len(ac.Roles))
			for _, r := range ac.Roles {
				rs = append(rs, r.Name)
			}
			cfg := map[string]any{"name": ac.Name, "description": ac.Description, "unrestricted": ac.Unrestricted,
				"project_id": ac.ProjectID, "roles": rs}
			if !ac.ExpiresAt.IsZero() {
				cfg["expires_at"] = ac.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z")
			}
			out = append(out, provider.Resource{Type: "openstack_identity_application_credential_v3", ID: ac.ID, Config: cfg})
		}
	}
	return out, nil
}
