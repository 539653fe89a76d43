# S3 in the AWS provider v3 shape, still accepted (deprecated) by v5: the
# bucket's own acl, grant, server_side_encryption_configuration, versioning
# and logging arguments.
resource "aws_kms_key" "docs" {
  description         = "docs bucket key"
  enable_key_rotation = true
}

resource "aws_s3_bucket" "logs" {
  bucket = "zeimu-access-logs"
  acl    = "log-delivery-write"

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        sse_algorithm = "AES256"
      }
    }
  }
}

# docs: KMS key from the same plan, versioning on, logging to a bucket
# known after the apply — passes.
resource "aws_s3_bucket" "docs" {
  bucket = "zeimu-docs"
  acl    = "private"

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = aws_kms_key.docs.arn
      }
    }
  }

  versioning {
    enabled = true
  }

  logging {
    target_bucket = aws_s3_bucket.logs.id
    target_prefix = "docs/"
  }
}

resource "aws_s3_bucket_public_access_block" "docs" {
  bucket                  = "zeimu-docs"
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# site: public-read canned ACL, versioning off, no encryption of its own.
resource "aws_s3_bucket" "site" {
  bucket = "zeimu-site"
  acl    = "public-read"

  versioning {
    enabled = false
  }
}

# shared: an AllUsers grant in the inline grant block.
resource "aws_s3_bucket" "shared" {
  bucket = "zeimu-shared"

  grant {
    type        = "Group"
    uri         = "http://acs.amazonaws.com/groups/global/AllUsers"
    permissions = ["READ"]
  }

  grant {
    type        = "CanonicalUser"
    id          = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
    permissions = ["FULL_CONTROL"]
  }
}
