package posture

import (
	"github.com/hatoba-cloud/hatoba/internal/controls"
)

// OCSF activities of a finding (OCSF 1.3.0, the Findings category's
// activity_id).
const (
	ocsfCreate = 1 // the evaluation that opened it
	ocsfUpdate = 2 // still open at a later evaluation (or open again)
	ocsfClose  = 3 // resolved
)

// OCSF renders a finding as an OCSF Compliance Finding (class 2003,
// schema 1.3.0): what security data lakes and SIEMs take in. c is the
// finding's control, for its title and framework mappings. The activity
// follows the finding's life: Create when the evaluation that last saw it
// is the one that opened it (first seen = last seen), Update when a later
// evaluation still saw it fail, Close once it is resolved.
func (f Finding) OCSF(c controls.Control, version string) map[string]any {
	activity, activityName := ocsfCreate, "Create"
	status, statusID, complianceStatus, complianceID := "New", 1, "Fail", 3
	at := f.FirstSeen
	switch {
	case f.Status == Resolved:
		activity, activityName = ocsfClose, "Close"
		status, statusID, complianceStatus, complianceID = "Resolved", 4, "Pass", 1
		at = f.LastSeen
		if f.ResolvedAt != nil {
			at = *f.ResolvedAt
		}
	case f.LastSeen.After(f.FirstSeen):
		activity, activityName = ocsfUpdate, "Update"
		at = f.LastSeen
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
	// ISMAP ids not traced to the published criteria are claims to
	// check (docs/controls.md), not standards a finding is evaluated
	// against: they are left out.
	for _, id := range c.Frameworks.ISMAP {
		if _, ok := controls.ISMAPVerified(id); ok {
			standards = append(standards, "ISMAP "+id)
		}
	}
	if standards == nil {
		standards = []string{} // required, even when empty
	}
	title := c.Title.En
	if title == "" {
		title = f.ControlID
	}
	o := map[string]any{
		"class_uid":     2003,
		"class_name":    "Compliance Finding",
		"category_uid":  2,
		"category_name": "Findings",
		"activity_id":   activity,
		"activity_name": activityName,
		"type_uid":      2003*100 + activity,
		"type_name":     "Compliance Finding: " + activityName,
		"time":          at.UnixMilli(),
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
			"title":           title,
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
		"resources": []map[string]any{{
			"uid":   f.ResourceID,
			"type":  f.ResourceType,
			"group": map[string]any{"uid": f.EnvID, "name": "environment"},
		}},
	}
	if c.Remediation.En != "" { // remediation.desc is required
		o["remediation"] = map[string]any{"desc": c.Remediation.En}
	}
	if f.OrgID != "" { // a user needs a uid, name or account
		o["resources"].([]map[string]any)[0]["owner"] = map[string]any{"uid": f.OrgID}
	}
	return o
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
