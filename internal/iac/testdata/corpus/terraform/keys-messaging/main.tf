# KMS keys, SNS, SQS, Lambda's resource policies. A second provider block
# marks what it makes level-3 through default_tags.
provider "aws" {
  alias                       = "level3"
  region                      = "ap-northeast-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  default_tags {
    tags = { "hatoba:classification" = "level3" }
  }
}

resource "aws_kms_key" "rotated" {
  description         = "rotated"
  enable_key_rotation = true
}

# The provider's default: rotation off.
resource "aws_kms_key" "unrotated" {
  description = "unrotated"
}

# Asymmetric keys cannot rotate automatically: not judged.
resource "aws_kms_key" "signing" {
  description              = "signing"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "ECC_NIST_P256"
}

# Level 3 in an external key store (rotation is the key store's).
resource "aws_kms_key" "xks" {
  provider            = aws.level3
  description         = "level-3 records"
  custom_key_store_id = "cks-1234567890abcdef0"
  xks_key_id          = "bb8562717f809024"
}

# Level 3, but the key material is AWS's.
resource "aws_kms_key" "level3_in_kms" {
  provider            = aws.level3
  description         = "level-3 in KMS"
  enable_key_rotation = true
  # Known only after the apply: tags_all is the readers' merge of
  # default_tags (level3) and these.
  tags = { "pair" = aws_kms_key.xks.key_id }
}

resource "aws_sns_topic" "alerts" {
  name              = "alerts"
  kms_master_key_id = aws_kms_key.rotated.arn
}

resource "aws_sns_topic" "notices" {
  name              = "notices"
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic" "plain" {
  name = "plain"
}

resource "aws_sqs_queue" "jobs" {
  name              = "jobs"
  kms_master_key_id = aws_kms_key.rotated.key_id
}

# SSE-SQS: encrypted, but with SQS's own key.
resource "aws_sqs_queue" "events" {
  name                    = "events"
  sqs_managed_sse_enabled = true
}

resource "aws_lambda_permission" "from_bucket" {
  statement_id   = "AllowS3"
  action         = "lambda:InvokeFunction"
  function_name  = "thumbnailer"
  principal      = "s3.amazonaws.com"
  source_arn     = "arn:aws:s3:::juminhyo-uploads"
  source_account = "111122223333"
}

resource "aws_lambda_permission" "anyone" {
  statement_id  = "AllowAnyone"
  action        = "lambda:InvokeFunction"
  function_name = "public-api"
  principal     = "*"
}

resource "aws_lambda_function_url" "open" {
  function_name      = "public-api"
  authorization_type = "NONE"
}

resource "aws_lambda_function_url" "iam" {
  function_name      = "internal-api"
  authorization_type = "AWS_IAM"
}
