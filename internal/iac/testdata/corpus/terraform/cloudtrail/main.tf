resource "aws_kms_key" "trail" {
  description         = "cloudtrail"
  enable_key_rotation = true
}

# The organisation's trail: every region, validated, encrypted; enable_logging
# left to the provider's default (true).
resource "aws_cloudtrail" "org" {
  name                          = "org-trail"
  s3_bucket_name                = "kansa-cloudtrail-logs"
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  is_organization_trail         = true
  kms_key_id                    = aws_kms_key.trail.arn
}

# One region, not validated, SSE-S3, and switched off.
resource "aws_cloudtrail" "local" {
  name           = "local-trail"
  s3_bucket_name = "kansa-local-logs"
  enable_logging = false
}
