package hatoba.controls.aws_rds_multi_az_production

import data.hatoba.lib
import rego.v1

# Production is the hatoba:purpose tag hatoba puts on what it vends, or
# the purpose the assignment gives (data.hatoba.params.purpose).
deny contains f if {
	some r in lib.of_type("aws_db_instance")
	not lib.aurora(r)
	lib.purpose(r) == "production"
	not r.config.multi_az == true
	f := lib.finding(r, "the production database is not Multi-AZ")
}
