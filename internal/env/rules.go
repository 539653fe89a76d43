package env

import "fmt"

// Rules decide whether a request is approved without a person. A request
// that breaks a rule is not refused: it waits for a central operator, who
// sees the reasons and approves or rejects it.
type Rules struct {
	// Quota is the organisation's limit of live environments.
	Quota int
	// Allowed are the classifications the requested provider may hold.
	Allowed []Classification
}

// Check returns why req needs a person's decision; none means approve.
// live counts the organisation's live environments before this request.
func (r Rules) Check(req Request, live int) []string {
	var reasons []string
	if live >= r.Quota {
		reasons = append(reasons, fmt.Sprintf("organisation %s is at its quota: %d of %d live environments", req.OrgID, live, r.Quota))
	}
	if !oneOf(req.Classification, r.Allowed) {
		reasons = append(reasons, fmt.Sprintf("classification %s is not allowed on provider %s (allowed: %v)", req.Classification, req.Provider, r.Allowed))
	}
	return reasons
}
