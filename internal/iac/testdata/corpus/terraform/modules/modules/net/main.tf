terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "ssh_cidr" { type = string }

resource "aws_security_group" "admin" {
  name = "admin"
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = [var.ssh_cidr]
  }
}
