# An account baseline that does not hold.
resource "aws_s3_account_public_access_block" "this" {
  block_public_acls   = true
  block_public_policy = true
}

# Not covered: the account's block is not fully on.
resource "aws_s3_bucket" "uncovered" {
  bucket = "kijun-uncovered"
}

# The provider's defaults: minimum_password_length 6, no reuse prevention.
resource "aws_iam_account_password_policy" "this" {
  require_symbols = true
}

resource "aws_ebs_encryption_by_default" "this" {
  enabled = false
}

resource "aws_config_configuration_recorder" "this" {
  name     = "default"
  role_arn = "arn:aws:iam::111122223333:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
  recording_group {
    all_supported  = false
    resource_types = ["AWS::EC2::Instance", "AWS::S3::Bucket"]
  }
}

resource "aws_config_configuration_recorder_status" "this" {
  name       = aws_config_configuration_recorder.this.name
  is_enabled = false
}

resource "aws_guardduty_detector" "this" {
  enable = false
}

resource "aws_iam_user" "batch" {
  name = "batch-uploader"
}

resource "aws_iam_access_key" "batch" {
  user = aws_iam_user.batch.name
}

resource "aws_iam_user" "ops" {
  name = "ops-admin"
  path = "/operators/"
}
