# S3 in the AWS provider v4+ shape: a bucket and the separate resources that
# configure it, bound by the bucket's name (a local, so known at plan time).
locals {
  records = "juminhyo-records"
  scratch = "juminhyo-scratch"
  logs    = "juminhyo-access-logs"
}

resource "aws_kms_key" "s3" {
  description         = "records bucket key"
  enable_key_rotation = true
}

# records: every setting on — passes the bucket controls.
resource "aws_s3_bucket" "records" {
  bucket = local.records
}

resource "aws_s3_bucket_public_access_block" "records" {
  bucket                  = local.records
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "records" {
  bucket = local.records
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.s3.arn # known after apply
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "records" {
  bucket = local.records
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_logging" "records" {
  bucket        = local.records
  target_bucket = local.logs
  target_prefix = "records/"
}

resource "aws_s3_bucket_acl" "records" {
  bucket = local.records
  acl    = "private"
}

# scratch: everything off or weak — fails each bucket control.
resource "aws_s3_bucket" "scratch" {
  bucket = local.scratch
}

resource "aws_s3_bucket_public_access_block" "scratch" {
  bucket                  = local.scratch
  block_public_acls       = true
  block_public_policy     = false
  ignore_public_acls      = true
  restrict_public_buckets = false
}

resource "aws_s3_bucket_server_side_encryption_configuration" "scratch" {
  bucket = local.scratch
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "scratch" {
  bucket = local.scratch
  versioning_configuration {
    status = "Suspended"
  }
}

resource "aws_s3_bucket_acl" "scratch" {
  bucket = local.scratch
  access_control_policy {
    owner {
      id = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
    }
    grant {
      grantee {
        type = "Group"
        uri  = "http://acs.amazonaws.com/groups/global/AllUsers"
      }
      permission = "READ"
    }
  }
}

# logs: the log bucket — SSE with the AWS managed key, no block of its own.
resource "aws_s3_bucket" "logs" {
  bucket = local.logs
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = local.logs
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = "alias/aws/s3"
    }
  }
}

resource "aws_s3_bucket_acl" "logs" {
  bucket = local.logs
  acl    = "log-delivery-write"
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = local.logs
  versioning_configuration {
    status = "Enabled"
  }
}

# public-site: a canned public ACL.
resource "aws_s3_bucket_acl" "public_site" {
  bucket = "juminhyo-public-site"
  acl    = "public-read"
}
