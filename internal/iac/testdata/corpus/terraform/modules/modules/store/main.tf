terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "name" { type = string }
variable "versioning" { type = string }
variable "rotate" { type = bool }

resource "aws_kms_key" "this" {
  description         = var.name
  enable_key_rotation = var.rotate
}

resource "aws_s3_bucket" "this" {
  bucket = var.name
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = var.name
  versioning_configuration {
    status = var.versioning
  }
}
