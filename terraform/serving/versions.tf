terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }

  # State lives in build/<TARGET>/ (the Makefile passes `-backend-config=path=...`). For remote
  # state, `make ... TF_BACKEND_CONFIG=file` writes a gitignored backend_override.tf that swaps
  # this block for an S3 backend configured by that file.
  backend "local" {}
}
