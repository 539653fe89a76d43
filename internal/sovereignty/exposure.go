package sovereignty

import "slices"

// Exposure is a foreign law under which a party other than the tenant
// can be made to hand over, or can take, an environment's data. It is
// derived from facts, never typed into a profile.
type Exposure struct {
	// ID is stable (and the console's message key suffix): us-cloud-act,
	// us-fisa-702, us-eo-12333, cn-national-intelligence, foreign-parent.
	ID      string `json:"id"`
	Law     string `json:"law"`
	Country string `json:"country"`
	// Compelled: the provider itself can be ordered to disclose (as
	// opposed to collection without its part).
	Compelled bool `json:"compelled"`
	// Via names the fact that brings the law in: "parent Amazon.com,
	// Inc. (US)", "operations staff in US", "resources in us-east-1".
	Via    string `json:"via"`
	Source string `json:"source"`
}

// Derive lists the exposures a profile implies for data placed in the
// given countries (an environment's resources and backups; nil for the
// provider alone), most severe first.
func Derive(p Profile, dataCountries []string) []Exposure {
	var out []Exposure
	op, parent := p.Operator.Country.Value, p.Operator.ParentCountry.Value
	usVia := ""
	switch {
	case parent == "US":
		usVia = "parent " + p.Operator.Parent.Value + " (US)"
	case op == "US":
		usVia = "operator " + p.Operator.LegalEntity.Value + " (US)"
	}
	if usVia != "" {
		// The CLOUD Act reaches data in a US provider's "possession,
		// custody, or control" wherever it is stored, which includes a
		// subsidiary's data the parent controls.
		out = append(out, Exposure{ID: "us-cloud-act", Law: "CLOUD Act (18 U.S.C. 2713)", Country: "US", Compelled: true, Via: usVia,
			Source: "https://www.law.cornell.edu/uscode/text/18/2713"})
	}
	if p.Operator.USCommunicationService.Value {
		via := usVia
		if via == "" {
			via = "operator " + p.Operator.LegalEntity.Value + " provides a communication service in the US"
		}
		out = append(out, Exposure{ID: "us-fisa-702", Law: "FISA Section 702 (50 U.S.C. 1881a)", Country: "US", Compelled: true, Via: via,
			Source: "https://www.law.cornell.edu/uscode/text/50/1881a"})
	}
	if op == "CN" || parent == "CN" {
		out = append(out, Exposure{ID: "cn-national-intelligence", Law: "National Intelligence Law of the PRC, Article 7", Country: "CN", Compelled: true,
			Via: "operator or parent in CN", Source: "https://www.npc.gov.cn/"})
	}
	for _, c := range []string{op, parent} {
		if c != "" && c != "JP" && c != "US" && c != "CN" && !slices.ContainsFunc(out, func(e Exposure) bool { return e.Country == c }) {
			out = append(out, Exposure{ID: "foreign-parent", Law: "the law of " + c + " (not assessed)", Country: c, Compelled: true,
				Via: "operator or parent in " + c})
		}
	}
	// Data or hands outside Japan are open to collection abroad without
	// the provider's part (Executive Order 12333 is the documented case).
	abroad := ""
	for _, c := range dataCountries {
		if c != "JP" {
			abroad = "data in " + c
			break
		}
	}
	if abroad == "" {
		for _, c := range p.Staff.OperationsCountries.Value {
			if c != "JP" {
				abroad = "operations staff in " + c
				break
			}
		}
	}
	if abroad != "" {
		out = append(out, Exposure{ID: "us-eo-12333", Law: "Executive Order 12333 (collection abroad)", Country: "US", Compelled: false, Via: abroad,
			Source: "https://www.archives.gov/federal-register/codification/executive-order/12333.html"})
	}
	return out
}
