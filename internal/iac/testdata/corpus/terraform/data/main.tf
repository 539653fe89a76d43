# Databases and stores. default_tags (providers.tf) mark everything
# production, which the Multi-AZ control reads.
resource "aws_kms_key" "data" {
  description         = "data"
  enable_key_rotation = true
}

resource "aws_db_instance" "records" {
  identifier                  = "records"
  engine                      = "postgres"
  engine_version              = "16.4"
  instance_class              = "db.m6g.large"
  allocated_storage           = 100
  username                    = "records_admin"
  manage_master_user_password = true
  storage_encrypted           = true
  kms_key_id                  = aws_kms_key.data.arn
  publicly_accessible         = false
  backup_retention_period     = 14
  deletion_protection         = true
  multi_az                    = true
  skip_final_snapshot         = false
  final_snapshot_identifier   = "records-final"
}

# A development database: its own tag overrides the provider's purpose.
resource "aws_db_instance" "sandbox" {
  identifier                  = "sandbox"
  engine                      = "mysql"
  instance_class              = "db.t4g.micro"
  allocated_storage           = 20
  username                    = "admin"
  manage_master_user_password = true
  publicly_accessible         = true
  backup_retention_period     = 1
  skip_final_snapshot         = true
  tags                        = { "hatoba:purpose" = "development" }
}

# Production, encrypted with the AWS managed key, single-AZ.
resource "aws_db_instance" "reports" {
  identifier                  = "reports"
  engine                      = "postgres"
  instance_class              = "db.m6g.large"
  allocated_storage           = 50
  username                    = "reports_admin"
  manage_master_user_password = true
  storage_encrypted           = true
  backup_retention_period     = 7
  deletion_protection         = true
  multi_az                    = false
  skip_final_snapshot         = true
  # A tag known only after the apply: the plan cannot say tags_all, so the
  # readers merge the provider's default_tags (production) themselves.
  tags = { "replica-source" = aws_db_instance.records.arn }
}

resource "aws_rds_cluster" "ledger" {
  cluster_identifier          = "ledger"
  engine                      = "aurora-postgresql"
  master_username             = "ledger_admin"
  manage_master_user_password = true
  storage_encrypted           = true
  kms_key_id                  = aws_kms_key.data.arn
  backup_retention_period     = 35
  deletion_protection         = true
}

resource "aws_rds_cluster_instance" "ledger" {
  identifier          = "ledger-1"
  cluster_identifier  = aws_rds_cluster.ledger.id
  engine              = "aurora-postgresql"
  instance_class      = "db.r6g.large"
  publicly_accessible = false
}

resource "aws_rds_cluster" "analytics" {
  cluster_identifier          = "analytics"
  engine                      = "aurora-mysql"
  master_username             = "admin"
  manage_master_user_password = true
  backup_retention_period     = 3
  skip_final_snapshot         = true
}

resource "aws_rds_cluster_instance" "analytics" {
  identifier          = "analytics-1"
  cluster_identifier  = aws_rds_cluster.analytics.id
  engine              = "aurora-mysql"
  instance_class      = "db.r6g.large"
  publicly_accessible = true
}

resource "aws_dynamodb_table" "sessions" {
  name         = "sessions"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"
  attribute {
    name = "id"
    type = "S"
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
  point_in_time_recovery {
    enabled = true
  }
}

# DynamoDB's default: encrypted with an AWS owned key; no PITR.
resource "aws_dynamodb_table" "cache" {
  name         = "cache"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"
  attribute {
    name = "id"
    type = "S"
  }
}

resource "aws_efs_file_system" "shared" {
  encrypted  = true
  kms_key_id = aws_kms_key.data.arn
}

resource "aws_efs_file_system" "scratch" {
  creation_token = "scratch"
}

resource "aws_elasticache_replication_group" "sessions" {
  replication_group_id       = "sessions"
  description                = "sessions"
  engine                     = "redis"
  node_type                  = "cache.t4g.small"
  num_cache_clusters         = 2
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.data.arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
}

resource "aws_elasticache_replication_group" "migrating" {
  replication_group_id       = "migrating"
  description                = "moving clients to TLS"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = "cache.t4g.small"
  num_cache_clusters         = 2
  at_rest_encryption_enabled = true
  transit_encryption_enabled = true
  transit_encryption_mode    = "preferred"
}

resource "aws_elasticache_replication_group" "plain" {
  replication_group_id       = "plain"
  description                = "plain"
  engine                     = "redis"
  node_type                  = "cache.t4g.small"
  num_cache_clusters         = 1
  at_rest_encryption_enabled = false
}

resource "aws_redshift_cluster" "dwh" {
  cluster_identifier     = "dwh"
  node_type              = "ra3.xlplus"
  master_username        = "dwh_admin"
  manage_master_password = true
  encrypted              = true
  kms_key_id             = aws_kms_key.data.arn
  publicly_accessible    = false
}

resource "aws_redshift_cluster" "open" {
  cluster_identifier     = "open"
  node_type              = "ra3.xlplus"
  master_username        = "admin"
  manage_master_password = true
  encrypted              = false
  publicly_accessible    = true
}
