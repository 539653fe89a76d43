package hatoba.sovereignty_test

import data.hatoba.sovereignty
import rego.v1

f(v) := {"value": v, "verified": true, "reviewed": "2026-06-01"}

domestic := {
	"operator": {
		"country": f("JP"), "parent": f(""), "parent_country": f(""),
		"foreign_capital_share": f(20), "foreign_voting_share": f(20), "us_communication_service": f(false),
	},
	"contract": {"governing_law": f("JP"), "court": f("JP")},
	"regions": f([{"name": "jp-east-1", "country": "JP"}]),
	"staff": {"operations_countries": f(["JP"]), "support_countries": f(["JP"]), "clearance": f(true), "soc_country": f("JP")},
	"certifications": f([{"name": "ISMAP"}]),
	"exit": {"egress_charges": f(false), "notice_days": f(30), "transition_days": f(30)},
	"supply_chain": {"control_plane": f("open-source"), "hardware_countries": f(["JP"]), "alternative_suppliers": f(true)},
	"technology": {"api": f("open-standard"), "open_source": f(true), "open_export": f(true)},
	"environment": {"pue": f(1.25), "renewable_share": f(90)},
}

home := {"data_countries": ["JP"], "unknown_regions": [], "backups": [{"provider": "other", "tier": "domestic", "country": "JP"}], "hyok": {"connected": false, "kill_switch": ""}, "proprietary_services": []}

cloud_act := [{"id": "us-cloud-act", "compelled": true}]

test_all_domestic_reaches_four_everywhere if {
	levels := sovereignty.levels with input as {"profile": domestic, "exposures": [], "environment": home, "provider_connection": "domestic", "now": "2026-12-01"}
	every o in sovereignty.objectives { levels[o] == 4 }
	sovereignty.score == 100 with input as {"profile": domestic, "exposures": [], "environment": home, "provider_connection": "domestic", "now": "2026-12-01"}
}

test_foreign_parent_caps_strategic_at_two if {
	p := json.patch(domestic, [{"op": "replace", "path": "/operator/parent", "value": f("Example Inc.")}, {"op": "replace", "path": "/operator/parent_country", "value": f("US")}])
	sovereignty.levels["SOV-1"] == 2 with input as {"profile": p, "exposures": cloud_act, "environment": home, "now": "2026-12-01"}
}

test_compelled_disclosure_caps_legal_at_two if {
	sovereignty.levels["SOV-2"] == 2 with input as {"profile": domestic, "exposures": cloud_act, "environment": home, "now": "2026-12-01"}
}

test_collection_abroad_caps_legal_at_three if {
	sovereignty.levels["SOV-2"] == 3 with input as {"profile": domestic, "exposures": [{"id": "us-eo-12333", "compelled": false}], "environment": home, "now": "2026-12-01"}
}

test_foreign_resource_drops_data_to_zero if {
	e := json.patch(home, [{"op": "replace", "path": "/data_countries", "value": ["JP", "US"]}])
	sovereignty.levels["SOV-3"] == 0 with input as {"profile": domestic, "exposures": [], "environment": e, "now": "2026-12-01"}
}

test_unknown_region_is_not_resident if {
	e := json.patch(home, [{"op": "replace", "path": "/unknown_regions", "value": ["xx-1"]}])
	sovereignty.levels["SOV-3"] == 0 with input as {"profile": domestic, "exposures": [], "environment": e, "now": "2026-12-01"}
}

test_hyok_lifts_data_over_compelled_disclosure if {
	without := sovereignty.levels["SOV-3"] with input as {"profile": domestic, "exposures": cloud_act, "environment": home, "now": "2026-12-01"}
	without == 2
	e := json.patch(home, [{"op": "replace", "path": "/hyok", "value": {"connected": true, "kill_switch": "armed"}}])
	sovereignty.levels["SOV-3"] == 4 with input as {"profile": domestic, "exposures": cloud_act, "environment": e, "provider_connection": "domestic", "now": "2026-12-01"}
}

test_pulled_kill_switch_is_no_mitigation if {
	e := json.patch(home, [{"op": "replace", "path": "/hyok", "value": {"connected": true, "kill_switch": "pulled"}}])
	sovereignty.levels["SOV-3"] == 2 with input as {"profile": domestic, "exposures": cloud_act, "environment": e, "now": "2026-12-01"}
}

test_backup_on_own_provider_is_not_independent if {
	sovereignty.levels["SOV-3"] == 3 with input as {"profile": domestic, "exposures": [], "environment": home, "provider_connection": "other", "now": "2026-12-01"}
}

test_stale_review_caps_security_at_three if {
	sovereignty.levels["SOV-7"] == 3 with input as {"profile": domestic, "exposures": [], "environment": home, "now": "2028-01-01"}
}

test_proprietary_services_cap_technology_at_one if {
	e := json.patch(home, [{"op": "replace", "path": "/proprietary_services", "value": ["aws_dynamodb_table"]}])
	sovereignty.levels["SOV-6"] == 1 with input as {"profile": domestic, "exposures": [], "environment": e, "now": "2026-12-01"}
}

test_gaps_name_the_next_level if {
	gaps := sovereignty.gaps with input as {"profile": domestic, "exposures": cloud_act, "environment": home, "now": "2026-12-01"}
	{"objective": "SOV-2", "level": 3, "id": "no_compelled_disclosure"} in gaps
}

test_deny_below_floor if {
	msgs := sovereignty.deny with input as {"profile": domestic, "exposures": cloud_act, "environment": home, "floors": {"SOV-2": 3}, "now": "2026-12-01"}
	msgs == {"SOV-2 is at level 2, below the floor 3"}
}

test_no_deny_at_floor if {
	msgs := sovereignty.deny with input as {"profile": domestic, "exposures": [], "environment": home, "floors": {"SOV-2": 3}, "now": "2026-12-01"}
	count(msgs) == 0
}
