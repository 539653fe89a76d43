# EC2: instances, launch templates, security groups in their three forms,
# the default security group, EBS volumes. A second provider puts some of
# it outside Japan.
provider "aws" {
  alias                       = "virginia"
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

resource "aws_vpc" "main" {
  cidr_block = "10.10.0.0/16"
}

resource "aws_vpc" "overseas" {
  provider   = aws.virginia
  cidr_block = "10.20.0.0/16"
}

resource "aws_kms_key" "ebs" {
  description         = "ebs"
  enable_key_rotation = true
}

# IMDSv2 required, no public IP.
resource "aws_instance" "app" {
  ami                         = "ami-0abcdef1234567890"
  instance_type               = "t3.micro"
  subnet_id                   = "subnet-0123456789abcdef0"
  associate_public_ip_address = false
  metadata_options {
    http_tokens   = "required"
    http_endpoint = "enabled"
  }
}

# No metadata_options: the launch API's default, IMDSv1 allowed; a public IP.
resource "aws_instance" "legacy" {
  ami                         = "ami-0abcdef1234567890"
  instance_type               = "t3.micro"
  subnet_id                   = "subnet-0123456789abcdef0"
  associate_public_ip_address = true
}

# IMDSv1 said outright.
resource "aws_instance" "optional" {
  ami           = "ami-0abcdef1234567890"
  instance_type = "t3.micro"
  metadata_options {
    http_tokens = "optional"
  }
}

# Judged at its launch template.
resource "aws_instance" "from_template" {
  launch_template {
    id      = aws_launch_template.web.id
    version = "$Latest"
  }
}

resource "aws_launch_template" "web" {
  name_prefix   = "web-"
  image_id      = "ami-0abcdef1234567890"
  instance_type = "t3.small"
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  network_interfaces {
    device_index                = 0
    associate_public_ip_address = "false"
  }
}

resource "aws_launch_template" "batch" {
  name_prefix   = "batch-"
  image_id      = "ami-0abcdef1234567890"
  instance_type = "t3.small"
  network_interfaces {
    device_index                = 0
    associate_public_ip_address = "true"
  }
}

# Inline rules: HTTPS from anywhere, SSH from the office only.
resource "aws_security_group" "web" {
  name   = "web"
  vpc_id = aws_vpc.main.id
  ingress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["203.0.113.0/24"]
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# Inline rules: SSH from the internet, and everything over IPv6.
resource "aws_security_group" "bastion" {
  name   = "bastion"
  vpc_id = aws_vpc.main.id
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "wide" {
  name   = "wide"
  vpc_id = aws_vpc.main.id
  ingress {
    from_port        = 0
    to_port          = 0
    protocol         = "-1"
    ipv6_cidr_blocks = ["::/0"]
  }
}

# Separate rules (aws_security_group_rule): a range that takes in RDP.
resource "aws_security_group" "rules" {
  name   = "rules"
  vpc_id = aws_vpc.main.id
}

resource "aws_security_group_rule" "rdp_range" {
  type              = "ingress"
  security_group_id = aws_security_group.rules.id
  from_port         = 3000
  to_port           = 3999
  protocol          = "tcp"
  cidr_blocks       = ["0.0.0.0/0"]
}

resource "aws_security_group_rule" "https" {
  type              = "ingress"
  security_group_id = aws_security_group.rules.id
  from_port         = 443
  to_port           = 443
  protocol          = "tcp"
  cidr_blocks       = ["0.0.0.0/0"]
}

resource "aws_security_group_rule" "egress_all" {
  type              = "egress"
  security_group_id = aws_security_group.rules.id
  from_port         = 0
  to_port           = 0
  protocol          = "-1"
  cidr_blocks       = ["0.0.0.0/0"]
}

# The current form (aws_vpc_security_group_ingress_rule).
resource "aws_vpc_security_group_ingress_rule" "winrm" {
  security_group_id = aws_security_group.rules.id
  ip_protocol       = "tcp"
  from_port         = 5985
  to_port           = 5986
  cidr_ipv6         = "::/0"
}

resource "aws_vpc_security_group_ingress_rule" "ssh_office" {
  security_group_id = aws_security_group.rules.id
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = "203.0.113.0/24"
}

# Default security groups: closed in main, left open in overseas.
resource "aws_default_security_group" "main" {
  vpc_id = aws_vpc.main.id
}

resource "aws_default_security_group" "overseas" {
  provider = aws.virginia
  vpc_id   = aws_vpc.overseas.id
  ingress {
    protocol  = "-1"
    self      = true
    from_port = 0
    to_port   = 0
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_ebs_volume" "data" {
  availability_zone = "ap-northeast-1a"
  size              = 100
  encrypted         = true
  kms_key_id        = aws_kms_key.ebs.arn
}

resource "aws_ebs_volume" "plain" {
  availability_zone = "ap-northeast-1a"
  size              = 20
}

resource "aws_ebs_volume" "aws_key" {
  availability_zone = "ap-northeast-1c"
  size              = 20
  encrypted         = true
}

resource "aws_ebs_volume" "overseas" {
  provider          = aws.virginia
  availability_zone = "us-east-1a"
  size              = 20
  encrypted         = true
  kms_key_id        = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
}
