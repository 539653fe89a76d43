package hatoba.controls.aws_kms_rotation

import data.hatoba.lib
import rego.v1

# A key in a custom key store (XKS, CloudHSM) or an asymmetric or HMAC
# key cannot rotate automatically.
rotatable(r) if {
	object.get(r.config, "customer_master_key_spec", "SYMMETRIC_DEFAULT") in {"SYMMETRIC_DEFAULT", ""}
	not lib.present(r, ["custom_key_store_id"])
	not object.get(r.config, "origin", "AWS_KMS") in {"EXTERNAL", "EXTERNAL_KEY_STORE", "AWS_CLOUDHSM"}
}

deny contains f if {
	some r in lib.of_type("aws_kms_key")
	rotatable(r)
	r.config.enable_key_rotation == false
	f := lib.finding(r, "automatic key rotation is off")
}
