package simcloud

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The OpenStack services that are not Keystone, in the shapes gophercloud
// reads: Nova servers, Neutron security groups (with their rules), Cinder
// volumes, Swift containers and Glance images, for the openstack driver's
// inventory.
// Keystone is real (scripts/keystone.sh); these are registered as
// endpoints in its catalog (OpenStackEndpoints), one per region, and
// answer for any project with resources generated from the simulated
// cloud's seed, the project id and the region alone — as the AWS
// inventory is (inventorygen.go) — with non-compliance planted at the
// rates below.
//
// Paths, below OpenStackPrefix and the region:
//
//	GET  compute/v2.1/servers/detail?all_tenants=true&tenant_id=P
//	GET  network/v2.0/security-groups?project_id=P
//	GET  volume/v3/volumes/detail?all_tenants=true&project_id=P
//	GET  object-store/v1/AUTH_P?format=json[&marker=M]
//	HEAD object-store/v1/AUTH_P/CONTAINER   (X-Container-Read)
//	GET  image/v2/images?owner=P
//
// A request needs an X-Auth-Token; the services trust Keystone's tokens
// without validating them (hatoba's driver is their only client).
const OpenStackPrefix = "/openstack/"

const (
	rateOSForeignRegion   = 0.10 // per project: resources in a region abroad at all
	rateOSSGOpenAdminPort = 0.10 // per security group: 0.0.0.0/0 on 22 or 3389
	rateOSVolumePlain     = 0.10 // per volume: not encrypted
	rateOSContainerPublic = 0.05 // per container: world-readable (.r:*)
	rateOSImagePublic     = 0.10 // per image: visible to every project (public or community)
)

// OpenStackServiceTypes are the catalog types of the services served, with
// the path of each below the region.
var OpenStackServiceTypes = map[string]string{
	"compute":      "compute/v2.1",
	"network":      "network",
	"volumev3":     "volume/v3",
	"object-store": "object-store/v1",
	"image":        "image",
}

// OpenStackEndpoint is one endpoint to register in Keystone's catalog.
type OpenStackEndpoint struct {
	ServiceType, Region, URL string
}

// OpenStackEndpoints are the endpoints of the simulated services served at
// base (the simulated cloud's URL) for each region, sorted.
func OpenStackEndpoints(base string, regions []string) []OpenStackEndpoint {
	var out []OpenStackEndpoint
	for _, r := range regions {
		for typ, path := range OpenStackServiceTypes {
			out = append(out, OpenStackEndpoint{ServiceType: typ, Region: r, URL: strings.TrimSuffix(base, "/") + OpenStackPrefix + r + "/" + path})
		}
	}
	slices.SortFunc(out, func(a, b OpenStackEndpoint) int {
		return strings.Compare(a.Region+a.ServiceType, b.Region+b.ServiceType)
	})
	return out
}

// OpenStackInventory is one project's resources in one region, in the
// services' own JSON shapes.
type OpenStackInventory struct {
	Servers        []map[string]any
	SecurityGroups []map[string]any
	Volumes        []map[string]any
	Containers     []OpenStackContainer
	Images         []map[string]any
}

// OpenStackContainer is a Swift container and its read ACL.
type OpenStackContainer struct {
	Name  string
	Read  string // X-Container-Read, e.g. ".r:*,.rlistings"
	Count int
	Bytes int64
}

// domesticOpenStackRegions are where the generator puts a project's
// resources; any other region gets some only for the few projects planted
// abroad.
var domesticOpenStackRegions = []string{"jp-east-1", "jp-west-1"}

// GenerateOpenStackInventory is the project's inventory in the region.
func GenerateOpenStackInventory(seed uint64, projectID, region string) OpenStackInventory {
	h := fnv.New64a()
	_, _ = h.Write([]byte(projectID))
	abroad := mrand.New(mrand.NewPCG(seed, h.Sum64())).Float64() < rateOSForeignRegion
	_, _ = h.Write([]byte("/" + region))
	r := mrand.New(mrand.NewPCG(seed, h.Sum64()))
	var inv OpenStackInventory
	domestic := slices.Contains(domesticOpenStackRegions, region)
	if !domestic && !abroad {
		return inv
	}
	id := func() string {
		return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1))
	}
	// Each service writes its times its own way (Nova RFC 3339; Neutron and
	// Cinder without a zone, Cinder with microseconds).
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(300*24)) * time.Hour)
	created, neutronAt, cinderAt := at.Format(time.RFC3339), at.Format("2006-01-02T15:04:05"), at.Format("2006-01-02T15:04:05.000000")
	servers := 1 + r.IntN(3)
	if !domestic {
		servers = 1
	}
	for i := range servers {
		inv.Servers = append(inv.Servers, map[string]any{
			"id": id(), "name": fmt.Sprintf("app-%d", i+1), "status": "ACTIVE", "tenant_id": projectID,
			"metadata": map[string]any{"role": []string{"web", "batch", "db"}[i%3]}, "created": created, "updated": created,
			"OS-EXT-AZ:availability_zone": region + "a", "flavor": map[string]any{"id": "m1.small"}, "image": map[string]any{"id": "debian-12"},
			"addresses": map[string]any{}, "links": []any{},
		})
	}
	if !domestic {
		return inv // what is abroad is one server: the finding, not noise
	}
	for i := range 1 + r.IntN(2) {
		sgID := id()
		rules := []map[string]any{
			rule(id(), sgID, projectID, "egress", "", 0, 0, ""),
			rule(id(), sgID, projectID, "ingress", "tcp", 443, 443, "0.0.0.0/0"),
			rule(id(), sgID, projectID, "ingress", "tcp", 22, 22, "10.0.0.0/8"),
		}
		if r.Float64() < rateOSSGOpenAdminPort {
			port := []int{22, 3389}[r.IntN(2)]
			rules = append(rules, rule(id(), sgID, projectID, "ingress", "tcp", port, port, "0.0.0.0/0"))
		}
		inv.SecurityGroups = append(inv.SecurityGroups, map[string]any{
			"id": sgID, "name": fmt.Sprintf("sg-%d", i+1), "description": "", "tenant_id": projectID, "project_id": projectID,
			"security_group_rules": rules, "created_at": neutronAt, "updated_at": neutronAt,
		})
	}
	for i := range r.IntN(4) {
		vtype, encrypted := "encrypted-luks", true
		if r.Float64() < rateOSVolumePlain {
			vtype, encrypted = "standard", false
		}
		inv.Volumes = append(inv.Volumes, map[string]any{
			"id": id(), "name": fmt.Sprintf("data-%d", i+1), "size": 10 * (1 + r.IntN(10)), "status": "in-use",
			"volume_type": vtype, "encrypted": encrypted, "availability_zone": region + "a",
			"os-vol-tenant-attr:tenant_id": projectID, "created_at": cinderAt, "updated_at": cinderAt, "attachments": []any{},
			"metadata": map[string]any{}, "bootable": "false", "multiattach": false,
		})
	}
	for i := range r.IntN(3) {
		c := OpenStackContainer{Name: fmt.Sprintf("bucket-%d", i+1), Count: r.IntN(1000), Bytes: int64(r.IntN(1 << 30))}
		if r.Float64() < rateOSContainerPublic {
			c.Read = ".r:*,.rlistings"
		}
		inv.Containers = append(inv.Containers, c)
	}
	// Drawn last, so that the resources above stay what they were before
	// images were simulated.
	for i := range r.IntN(3) {
		visibility := []string{"private", "shared"}[r.IntN(2)]
		if r.Float64() < rateOSImagePublic {
			visibility = []string{"public", "community"}[r.IntN(2)]
		}
		inv.Images = append(inv.Images, map[string]any{
			"id": id(), "name": fmt.Sprintf("golden-%d", i+1), "status": "active", "visibility": visibility, "owner": projectID,
			"container_format": "bare", "disk_format": "qcow2", "min_disk": 10, "min_ram": 512, "protected": false,
			"tags": []string{"hatoba"}, "size": 1 << 30, "created_at": created, "updated_at": created,
			"self": "/v2/images/" + projectID, "file": "/v2/images/" + projectID + "/file", "schema": "/v2/schemas/image",
		})
	}
	return inv
}

func rule(id, sgID, projectID, direction, protocol string, min, max int, prefix string) map[string]any {
	r := map[string]any{"id": id, "security_group_id": sgID, "tenant_id": projectID, "project_id": projectID,
		"direction": direction, "ethertype": "IPv4", "description": "",
		"protocol": nil, "port_range_min": nil, "port_range_max": nil, "remote_ip_prefix": nil, "remote_group_id": nil}
	if protocol != "" {
		r["protocol"], r["port_range_min"], r["port_range_max"] = protocol, min, max
	}
	if prefix != "" {
		r["remote_ip_prefix"] = prefix
	}
	return r
}

func (s *Server) openstackInventory(ctx context.Context, projectID, region string) (OpenStackInventory, error) {
	var seed uint64
	err := s.inspect(ctx, func(tx *sql.Tx) (err error) {
		seed, err = s.inventorySeed(ctx, tx)
		return err
	})
	return GenerateOpenStackInventory(seed, projectID, region), err
}

// openstackRoutes serves the simulated OpenStack services.
func (s *Server) openstackRoutes(mux *http.ServeMux) {
	handle := func(pattern string, project func(*http.Request) string, answer func(http.ResponseWriter, *http.Request, OpenStackInventory)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Auth-Token") == "" {
				openstackError(w, http.StatusUnauthorized, "The request you have made requires authentication.")
				return
			}
			p := project(r)
			if p == "" {
				openstackError(w, http.StatusBadRequest, "name the project (an administrator's listing of all projects is not simulated)")
				return
			}
			inv, err := s.openstackInventory(r.Context(), p, r.PathValue("region"))
			if err != nil {
				openstackError(w, http.StatusInternalServerError, err.Error())
				return
			}
			answer(w, r, inv)
		})
	}
	query := func(keys ...string) func(*http.Request) string {
		return func(r *http.Request) string {
			for _, k := range keys {
				if v := r.URL.Query().Get(k); v != "" {
					return v
				}
			}
			return ""
		}
	}
	handle("GET /openstack/{region}/compute/v2.1/servers/detail", query("tenant_id", "project_id"), func(w http.ResponseWriter, _ *http.Request, inv OpenStackInventory) {
		openstackJSON(w, http.StatusOK, map[string]any{"servers": orEmpty(inv.Servers)})
	})
	handle("GET /openstack/{region}/network/v2.0/security-groups", query("project_id", "tenant_id"), func(w http.ResponseWriter, _ *http.Request, inv OpenStackInventory) {
		openstackJSON(w, http.StatusOK, map[string]any{"security_groups": orEmpty(inv.SecurityGroups)})
	})
	handle("GET /openstack/{region}/volume/v3/volumes/detail", query("project_id", "tenant_id"), func(w http.ResponseWriter, _ *http.Request, inv OpenStackInventory) {
		openstackJSON(w, http.StatusOK, map[string]any{"volumes": orEmpty(inv.Volumes)})
	})
	handle("GET /openstack/{region}/image/v2/images", query("owner"), func(w http.ResponseWriter, _ *http.Request, inv OpenStackInventory) {
		openstackJSON(w, http.StatusOK, map[string]any{"images": orEmpty(inv.Images), "first": "/v2/images", "schema": "/v2/schemas/images"})
	})
	account := func(r *http.Request) string { return strings.TrimPrefix(r.PathValue("account"), "AUTH_") }
	listContainers := func(w http.ResponseWriter, r *http.Request, inv OpenStackInventory) {
		marker := r.URL.Query().Get("marker")
		list := []map[string]any{}
		for _, c := range inv.Containers {
			if c.Name > marker {
				list = append(list, map[string]any{"name": c.Name, "count": c.Count, "bytes": c.Bytes, "last_modified": "2026-06-01T00:00:00.000000"})
			}
		}
		openstackJSON(w, http.StatusOK, list)
	}
	// gophercloud asks for the account with a trailing slash.
	handle("GET /openstack/{region}/object-store/v1/{account}", account, listContainers)
	handle("GET /openstack/{region}/object-store/v1/{account}/{$}", account, listContainers)
	handle("HEAD /openstack/{region}/object-store/v1/{account}/{container}", account, func(w http.ResponseWriter, r *http.Request, inv OpenStackInventory) {
		for _, c := range inv.Containers {
			if c.Name == r.PathValue("container") {
				w.Header().Set("X-Container-Object-Count", fmt.Sprint(c.Count))
				w.Header().Set("X-Container-Bytes-Used", fmt.Sprint(c.Bytes))
				if c.Read != "" {
					w.Header().Set("X-Container-Read", c.Read)
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
	})
}

func orEmpty(xs []map[string]any) []map[string]any {
	if xs == nil {
		return []map[string]any{}
	}
	return xs
}

func openstackJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// openstackError answers in the services' error shape.
func openstackError(w http.ResponseWriter, status int, msg string) {
	openstackJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg, "title": http.StatusText(status)}})
}
