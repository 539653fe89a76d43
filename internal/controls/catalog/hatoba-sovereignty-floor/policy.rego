package hatoba.controls.hatoba_sovereignty_floor

import data.hatoba.lib
import rego.v1

# hatoba adds one hatoba_sovereignty_assessment per environment to what
# the detective controls read: its latest sovereignty assessment
# (internal/sovereignty).
deny contains f if {
	some r in lib.of_type("hatoba_sovereignty_assessment")
	r.config.floor_mode == "enforce"
	some b in r.config.breaches
	f := lib.finding_fmt(r, "%s is at level %d, below the enforced floor %d of %s environments", [b.objective, b.level, b.floor, r.config.classification])
}
