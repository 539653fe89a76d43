# The sovereignty criteria: eight objectives, each on assurance levels 0–4,
# after the European Commission's Cloud Sovereignty Framework v1.2.1
# (October 2025), with Japanese law and courts where the framework says EU.
#
# An objective reaches level L when every criterion of levels 1..L is met.
# Each criterion names the facts it relies on (paths into the provider's
# profile, or "env.…" for the environment's own facts), so a report
# can say which of them nobody has verified. Change a criterion here and
# its test in sovereignty_test.rego; docs/sovereignty.md explains each.
#
# Input (hatoba builds it; conftest can read the same JSON):
#   profile      the provider connection's profile (facts as {value, …})
#   exposures    the laws derived from the profile and the data's countries
#   environment  {data_countries, unknown_regions, backups, hyok,
#                 proprietary_services}
#   floors       objective → minimum level (for deny)
#   now          YYYY-MM-DD
package hatoba.sovereignty

import rego.v1

objectives := ["SOV-1", "SOV-2", "SOV-3", "SOV-4", "SOV-5", "SOV-6", "SOV-7", "SOV-8"]

# Weights in per cent, as the framework gives them.
weights := {"SOV-1": 15, "SOV-2": 10, "SOV-3": 10, "SOV-4": 15, "SOV-5": 20, "SOV-6": 15, "SOV-7": 10, "SOV-8": 5}

p := input.profile

env := object.get(input, "environment", {})

criteria := [
	# SOV-1 strategic: who owns and controls the provider.
	{"objective": "SOV-1", "level": 1, "id": "domestic_entity", "met": domestic_entity, "facts": ["operator.country"]},
	{"objective": "SOV-1", "level": 2, "id": "no_foreign_control", "met": no_foreign_control, "facts": ["operator.foreign_voting_share"]},
	{"objective": "SOV-1", "level": 3, "id": "domestic_parent", "met": domestic_parent, "facts": ["operator.parent_country"]},
	{"objective": "SOV-1", "level": 4, "id": "limited_foreign_capital", "met": limited_foreign_capital, "facts": ["operator.foreign_capital_share", "operator.foreign_voting_share"]},
	# SOV-2 legal and jurisdictional: which law and court, and who can compel.
	{"objective": "SOV-2", "level": 1, "id": "japanese_law", "met": japanese_law, "facts": ["contract.governing_law"]},
	{"objective": "SOV-2", "level": 2, "id": "japanese_court", "met": japanese_court, "facts": ["contract.court"]},
	{"objective": "SOV-2", "level": 3, "id": "no_compelled_disclosure", "met": no_compelled_disclosure, "facts": ["operator.country", "operator.parent_country", "operator.us_communication_service"]},
	{"objective": "SOV-2", "level": 4, "id": "no_foreign_exposure", "met": no_foreign_exposure, "facts": ["staff.operations_countries", "env.data_countries"]},
	# SOV-3 data: where the environment's data is and who holds its keys.
	{"objective": "SOV-3", "level": 1, "id": "data_resident", "met": data_resident, "facts": ["regions", "env.data_countries"]},
	{"objective": "SOV-3", "level": 2, "id": "backups_resident", "met": backups_resident, "facts": ["env.backups"]},
	{"objective": "SOV-3", "level": 3, "id": "keys_beyond_compulsion", "met": keys_beyond_compulsion, "facts": ["operator.parent_country", "env.hyok"]},
	{"objective": "SOV-3", "level": 4, "id": "independent_backup", "met": independent_backup, "facts": ["env.backups"]},
	# SOV-4 operational: whose hands run it, and whether one can leave.
	{"objective": "SOV-4", "level": 1, "id": "support_in_japan", "met": support_in_japan, "facts": ["staff.support_countries"]},
	{"objective": "SOV-4", "level": 2, "id": "operations_in_japan", "met": operations_in_japan, "facts": ["staff.operations_countries"]},
	{"objective": "SOV-4", "level": 3, "id": "cleared_staff", "met": cleared_staff, "facts": ["staff.clearance"]},
	{"objective": "SOV-4", "level": 4, "id": "fair_exit", "met": fair_exit, "facts": ["exit.egress_charges", "exit.notice_days", "exit.transition_days"]},
	# SOV-5 supply chain: what the service is built from.
	{"objective": "SOV-5", "level": 1, "id": "supply_chain_known", "met": supply_chain_known, "facts": ["supply_chain.control_plane", "supply_chain.hardware_countries"]},
	{"objective": "SOV-5", "level": 2, "id": "alternative_suppliers", "met": alternative_suppliers, "facts": ["supply_chain.alternative_suppliers"]},
	{"objective": "SOV-5", "level": 3, "id": "control_plane_not_foreign", "met": control_plane_not_foreign, "facts": ["supply_chain.control_plane"]},
	{"objective": "SOV-5", "level": 4, "id": "domestic_hardware", "met": domestic_hardware, "facts": ["supply_chain.hardware_countries"]},
	# SOV-6 technology: open interfaces, portable workloads.
	{"objective": "SOV-6", "level": 1, "id": "open_export", "met": open_export, "facts": ["technology.open_export"]},
	{"objective": "SOV-6", "level": 2, "id": "portable_workload", "met": portable_workload, "facts": ["env.proprietary_services"]},
	{"objective": "SOV-6", "level": 3, "id": "open_standard_api", "met": open_standard_api, "facts": ["technology.api"]},
	{"objective": "SOV-6", "level": 4, "id": "open_source_stack", "met": open_source_stack, "facts": ["technology.open_source"]},
	# SOV-7 security and compliance.
	{"objective": "SOV-7", "level": 1, "id": "certified", "met": certified, "facts": ["certifications"]},
	{"objective": "SOV-7", "level": 2, "id": "ismap_registered", "met": ismap_registered, "facts": ["certifications"]},
	{"objective": "SOV-7", "level": 3, "id": "domestic_soc", "met": domestic_soc, "facts": ["staff.soc_country"]},
	{"objective": "SOV-7", "level": 4, "id": "assurance_reviewed", "met": assurance_reviewed, "facts": ["certifications", "staff.soc_country"]},
	# SOV-8 environmental sustainability.
	{"objective": "SOV-8", "level": 1, "id": "efficiency_reported", "met": efficiency_reported, "facts": ["environment.pue"]},
	{"objective": "SOV-8", "level": 2, "id": "pue_1_5", "met": pue_at_most(1.5), "facts": ["environment.pue"]},
	{"objective": "SOV-8", "level": 3, "id": "efficient_and_renewable", "met": efficient_and_renewable, "facts": ["environment.pue", "environment.renewable_share"]},
	{"objective": "SOV-8", "level": 4, "id": "leading_efficiency", "met": leading_efficiency, "facts": ["environment.pue", "environment.renewable_share"]},
]

# --- SOV-1

default domestic_entity := false

domestic_entity if p.operator.country.value == "JP"

default no_foreign_control := false

no_foreign_control if p.operator.foreign_voting_share.value < 50

default domestic_parent := false

domestic_parent if not has_parent

domestic_parent if p.operator.parent_country.value == "JP"

has_parent if p.operator.parent.value != ""

# One third: a blocking minority under the Companies Act (special
# resolutions need two thirds), and the cap the NTT Act puts on foreign
# holdings of NTT.
default limited_foreign_capital := false

limited_foreign_capital if {
	p.operator.foreign_capital_share.value < 100 / 3
	p.operator.foreign_voting_share.value < 100 / 3
}

# --- SOV-2

default japanese_law := false

japanese_law if p.contract.governing_law.value == "JP"

default japanese_court := false

japanese_court if p.contract.court.value == "JP"

default no_compelled_disclosure := false

no_compelled_disclosure if {
	not some_compelled
}

some_compelled if {
	some e in input.exposures
	e.compelled
}

default no_foreign_exposure := false

no_foreign_exposure if count(input.exposures) == 0

# --- SOV-3

data_countries := object.get(env, "data_countries", [])

default data_resident := false

data_resident if {
	count(object.get(env, "unknown_regions", [])) == 0
	every c in data_countries { c == "JP" }
}

backups := object.get(env, "backups", [])

default backups_resident := false

backups_resident if {
	every b in backups { b.country == "JP" }
}

default keys_beyond_compulsion := false

keys_beyond_compulsion if no_compelled_disclosure

# Hold your own key: the environment's keys are in hatoba's external key
# store, so the provider can decrypt only while hatoba answers, and the
# tenant's key owner holds the kill switch.
keys_beyond_compulsion if {
	env.hyok.connected
	env.hyok.kill_switch != "pulled"
}

default independent_backup := false

independent_backup if {
	some b in backups
	b.country == "JP"
	b.tier == "domestic"
	b.provider != input.provider_connection
}

# --- SOV-4

default support_in_japan := false

support_in_japan if "JP" in p.staff.support_countries.value

default operations_in_japan := false

operations_in_japan if {
	count(p.staff.operations_countries.value) > 0
	every c in p.staff.operations_countries.value { c == "JP" }
}

default cleared_staff := false

cleared_staff if p.staff.clearance.value == true

# The EU Data Act's switching terms, taken as the fair standard: notice of
# at most two months, transition of at most 30 days, no switching charge.
default fair_exit := false

fair_exit if {
	p.exit.egress_charges.value == false
	p.exit.notice_days.value <= 60
	p.exit.transition_days.value <= 30
}

# --- SOV-5

default supply_chain_known := false

supply_chain_known if {
	p.supply_chain.control_plane.value != ""
	count(p.supply_chain.hardware_countries.value) > 0
}

default alternative_suppliers := false

alternative_suppliers if p.supply_chain.alternative_suppliers.value == true

default control_plane_not_foreign := false

control_plane_not_foreign if p.supply_chain.control_plane.value in {"open-source", "domestic"}

default domestic_hardware := false

domestic_hardware if {
	count(p.supply_chain.hardware_countries.value) > 0
	every c in p.supply_chain.hardware_countries.value { c == "JP" }
}

# --- SOV-6

default open_export := false

open_export if p.technology.open_export.value == true

default portable_workload := false

portable_workload if count(object.get(env, "proprietary_services", [])) == 0

default open_standard_api := false

open_standard_api if p.technology.api.value == "open-standard"

default open_source_stack := false

open_source_stack if p.technology.open_source.value == true

# --- SOV-7

default certified := false

certified if count(p.certifications.value) > 0

default ismap_registered := false

ismap_registered if {
	some c in p.certifications.value
	c.name == "ISMAP"
}

default domestic_soc := false

domestic_soc if p.staff.soc_country.value == "JP"

# The assurance facts were verified against their evidence and reviewed
# within the last 400 days (a yearly review, with a margin).
default assurance_reviewed := false

assurance_reviewed if {
	fresh(p.certifications)
	fresh(p.staff.soc_country)
}

fresh(f) if {
	f.verified == true
	f.reviewed != ""
	age := time.parse_ns("2006-01-02", input.now) - time.parse_ns("2006-01-02", f.reviewed)
	age <= ((400 * 24) * 3600) * 1000000000
}

# --- SOV-8

default efficiency_reported := false

efficiency_reported if p.environment.pue.value > 0

default pue_at_most(_) := false

pue_at_most(x) if {
	efficiency_reported
	p.environment.pue.value <= x
}

default efficient_and_renewable := false

efficient_and_renewable if {
	pue_at_most(1.4)
	p.environment.renewable_share.value >= 50
}

default leading_efficiency := false

leading_efficiency if {
	pue_at_most(1.3)
	p.environment.renewable_share.value >= 80
}

# --- levels, gaps, score, floors

# reached holds [objective, level] for every level whose criteria, and
# those of every level below, are all met.
reached contains [obj, l] if {
	some obj in objectives
	some l in numbers.range(0, 4)
	applying := [c | some c in criteria; c.objective == obj; c.level <= l]
	every c in applying { c.met }
}

levels[obj] := max({l | some [o, l] in reached; o == obj}) if some obj in objectives

# gaps are the unmet criteria of each objective's next level: what would
# raise it.
gaps contains {"objective": c.objective, "level": c.level, "id": c.id} if {
	some c in criteria
	not c.met
	c.level == levels[c.objective] + 1
}

# The weighted score, 0–100 (weights sum to 100, levels reach 4).
score := sum([w | some o in objectives; w := weights[o] * levels[o]]) / 4

# conftest-compatible: a floor the environment does not reach.
deny contains msg if {
	some obj, floor in object.get(input, "floors", {})
	levels[obj] < floor
	msg := sprintf("%s is at level %d, below the floor %d", [obj, levels[obj], floor])
}
