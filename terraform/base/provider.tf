# The provider of both roots (terraform/serving/provider.tf links to this file): the same
# configuration serves AWS and the local stack. For TARGET=local the Makefile sets
# `local_endpoint` and exports dummy credentials; every service the project uses is then sent to
# that endpoint. For TARGET=aws `local_endpoint` stays null and the standard credential chain and
# endpoints apply.

locals {
  local_stack = var.local_endpoint != null
}

provider "aws" {
  region = var.aws_region

  s3_use_path_style           = local.local_stack
  skip_credentials_validation = local.local_stack
  skip_metadata_api_check     = local.local_stack
  # The local stack answers at once and never throttles: a 5xx there is a missing API, so fail
  # in seconds instead of retrying with backoff for minutes.
  max_retries = local.local_stack ? 2 : null

  endpoints {
    appautoscaling = var.local_endpoint
    cloudwatch     = var.local_endpoint
    events         = var.local_endpoint
    iam            = var.local_endpoint
    kms            = var.local_endpoint
    lambda         = var.local_endpoint
    logs           = var.local_endpoint
    s3             = var.local_endpoint
    sagemaker      = var.local_endpoint
    sfn            = var.local_endpoint
    sns            = var.local_endpoint
    sqs            = var.local_endpoint
    sts            = var.local_endpoint
  }

  default_tags {
    tags = {
      Project   = var.name_prefix
      ManagedBy = "terraform"
    }
  }
}
