package posture

import (
	"github.com/hatoba-cloud/hatoba/internal/controls"
)

// OCSF renders a finding as an OCSF Compliance Finding (class 2003,
// schema 1.3): what security data lakes and SIEMs take in. c is the
// finding's control, for its title and framework mappings.
func (f Finding) OCSF(c controls.Control, version string) map[string]any {
	activity, typeName := 1, "Compliance Finding: Create"
	status, statusID, complianceStatus, complianceID := "New", 1, "Fail", 3
	if f.Status == Resolved {
		activity, typeName = 2, "Compliance Finding: Update"
		status, statusID, complianceStatus, complianceID = "Resolved", 4, "Pass", 1
	}
	var standards []string
	for _, id := range c.Frameworks.NIST80053 {
		standards = append(standards, "NIST SP 800-53 Rev. 5 "+id)
	}
	for _, id := range c.Frameworks.NISTCSF {
		standards = append(standards, "NIST CSF 2.0 "+id)
	}
	for _, id := range c.Frameworks.CIS {
		standards = append(standards, "CIS "+id)
	}
	for _, id := range c.Frameworks.ISMAP {
		standards = append(standards, "ISMAP "+id)
	}
	last := f.LastSeen
	if f.ResolvedAt != nil {
		last = *f.ResolvedAt
	}
	return map[string]any{
		"class_uid":     2003,
		"class_name":    "Compliance Finding",
		"category_uid":  2,
		"category_name": "Findings",
		"activity_id":   activity,
		"type_uid":      200300 + activity,
		"type_name":     typeName,
		"time":          last.UnixMilli(),
		"severity_id":   severityID(f.Severity),
		"severity":      severityName(f.Severity),
		"status":        status,
		"status_id":     statusID,
		"message":       f.Message,
		"metadata": map[string]any{
			"version": "1.3.0",
			"product": map[string]any{"name": "hatoba", "vendor_name": "hatoba", "version": version},
			"uid":     f.ID,
		},
		"finding_info": map[string]any{
			"uid":             f.ID,
			"title":           c.Title.En,
			"desc":            c.Description.En,
			"first_seen_time": f.FirstSeen.UnixMilli(),
			"last_seen_time":  f.LastSeen.UnixMilli(),
		},
		"compliance": map[string]any{
			"control":   f.ControlID,
			"standards": standards,
			"status":    complianceStatus,
			"status_id": complianceID,
		},
		"remediation": map[string]any{"desc": c.Remediation.En},
		"resources": []map[string]any{{
			"uid":   f.ResourceID,
			"type":  f.ResourceType,
			"group": map[string]any{"uid": f.EnvID, "name": "environment"},
			"owner": map[string]any{"uid": f.OrgID},
		}},
	}
}

// OCSF severities: 1 informational … 5 critical.
func severityID(s controls.Severity) int {
	switch s {
	case controls.Critical:
		return 5
	case controls.High:
		return 4
	case controls.Medium:
		return 3
	case controls.Low:
		return 2
	case controls.Informational:
		return 1
	}
	return 0
}

func severityName(s controls.Severity) string {
	switch s {
	case controls.Critical:
		return "Critical"
	case controls.High:
		return "High"
	case controls.Medium:
		return "Medium"
	case controls.Low:
		return "Low"
	case controls.Informational:
		return "Informational"
	}
	return "Unknown"
}
