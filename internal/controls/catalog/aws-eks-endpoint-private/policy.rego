package hatoba.controls.aws_eks_endpoint_private

import data.hatoba.lib
import rego.v1

# The endpoint is public unless endpoint_public_access says otherwise
# (Terraform's and EKS's default is public).
deny contains f if {
	some r in lib.of_type("aws_eks_cluster")
	some v in lib.list(object.get(r.config, "vpc_config", []))
	object.get(v, "endpoint_public_access", true) != false
	f := lib.finding_fmt(r, "the cluster's API endpoint is public (from %v)", [object.get(v, "public_access_cidrs", ["0.0.0.0/0"])])
}
