package hatoba.controls.hatoba_sovereignty_floor_test

import data.hatoba.controls.hatoba_sovereignty_floor
import rego.v1

assessment(mode, breaches) := {"hatoba_resources": [{
	"type": "hatoba_sovereignty_assessment", "id": "hatoba:sovereignty:env-1", "region": "global",
	"config": {"classification": "level3", "floor_mode": mode, "breaches": breaches},
}]}

test_enforced_breaches_are_denied if {
	count(hatoba_sovereignty_floor.deny) == 2 with input as assessment("enforce", [{"objective": "SOV-2", "level": 2, "floor": 3}, {"objective": "SOV-3", "level": 0, "floor": 3}])
}

test_enforced_breach_message if {
	hatoba_sovereignty_floor.deny == {{
		"msg": "hatoba:sovereignty:env-1: SOV-3 is at level 0, below the enforced floor 3 of level3 environments",
		"resource": "hatoba:sovereignty:env-1", "type": "hatoba_sovereignty_assessment",
		"format": "%s is at level %d, below the enforced floor %d of %s environments",
		"params": ["SOV-3", 0, 3, "level3"],
	}} with input as assessment("enforce", [{"objective": "SOV-3", "level": 0, "floor": 3}])
}

test_reported_breach_is_not_a_finding if {
	count(hatoba_sovereignty_floor.deny) == 0 with input as assessment("report", [{"objective": "SOV-3", "level": 0, "floor": 3}])
}

test_no_breach_passes if {
	count(hatoba_sovereignty_floor.deny) == 0 with input as assessment("enforce", [])
}
