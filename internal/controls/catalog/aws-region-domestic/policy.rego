package hatoba.controls.aws_region_domestic

import data.hatoba.lib
import rego.v1

deny contains f if {
	some t in input_types
	some r in lib.of_type(t)
	region := lib.region(r)
	not region in lib.domestic_regions
	f := lib.finding_fmt(r, "%s is in region %q, which is not a domestic region (%s)", [r.type, region, concat(", ", sort(lib.domestic_regions))])
}

input_types := {"aws_instance", "aws_s3_bucket", "aws_db_instance", "aws_rds_cluster", "aws_ebs_volume", "aws_efs_file_system", "aws_dynamodb_table", "aws_kms_key", "aws_lambda_function", "aws_eks_cluster", "aws_vpc", "aws_sqs_queue", "aws_sns_topic"}
