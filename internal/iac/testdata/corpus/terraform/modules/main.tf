# Child modules: one inheriting the default provider, instances of one by
# for_each, and one given an aliased provider in Virginia.
provider "aws" {
  alias                       = "virginia"
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

module "records" {
  source     = "./modules/store"
  name       = "kaigo-records"
  versioning = "Enabled"
  rotate     = true
}

module "tenant" {
  source     = "./modules/store"
  for_each   = toset(["a", "b"])
  name       = "kaigo-tenant-${each.key}"
  versioning = each.key == "a" ? "Enabled" : "Suspended"
  rotate     = each.key == "a"
}

module "dr" {
  source     = "./modules/store"
  providers  = { aws = aws.virginia }
  name       = "kaigo-dr"
  versioning = "Enabled"
  rotate     = true
}

module "net" {
  source   = "./modules/net"
  ssh_cidr = "0.0.0.0/0"
}
