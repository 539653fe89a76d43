# The most common shape of all: companions name their bucket by reference
# (aws_s3_bucket.x.id), which the plan knows only after the apply.
resource "aws_s3_bucket" "archive" {
  bucket = "kokuho-archive"
  tags   = { "hatoba:classification" = "level2" }
}

resource "aws_s3_bucket_versioning" "archive" {
  bucket = aws_s3_bucket.archive.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "archive" {
  bucket                  = aws_s3_bucket.archive.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = "arn:aws:kms:ap-northeast-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    }
  }
}

resource "aws_s3_bucket_logging" "archive" {
  bucket        = aws_s3_bucket.archive.id
  target_bucket = "kokuho-access-logs"
  target_prefix = "archive/"
}

# bare: nothing configures it; the companions above name archive, but only
# the configuration (not the planned values) says so.
resource "aws_s3_bucket" "bare" {
  bucket = "kokuho-bare"
}
