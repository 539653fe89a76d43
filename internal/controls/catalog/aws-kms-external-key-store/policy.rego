package hatoba.controls.aws_kms_external_key_store

import data.hatoba.lib
import rego.v1

# Level 3 is the hatoba:classification tag, or the classification the
# assignment gives (data.hatoba.params.classification).
deny contains f if {
	some r in lib.of_type("aws_kms_key")
	lib.classification(r) == "level3"
	not lib.present(r, ["custom_key_store_id"])
	f := lib.finding(r, "the key material of a level-3 key is held by AWS, not in an external key store")
}
