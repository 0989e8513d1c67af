variable "aws_region" {
  type        = string
  description = "AWS region of every resource (the local stack uses it too)."
  default     = "us-east-1"
}

variable "local_endpoint" {
  type        = string
  description = "URL of the local AWS stack (for example http://127.0.0.1:4566); null deploys to AWS through the standard endpoints and credential chain."
  default     = null
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name and value of the Project tag; `python -m settings.leftovers` looks for it after a destroy."
  default     = "scones"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 characters: lowercase letters, digits and hyphens, starting with a letter (it is part of bucket names)."
  }

  validation {
    # S3 bucket naming rules: no bucket name may start with xn--, sthree- or amzn-s3-demo-, and
    # every bucket here is named "<name_prefix>-<purpose>-<account>-<region>".
    condition     = !anytrue([for reserved in ["xn--", "sthree-", "amzn-s3-demo-"] : startswith("${var.name_prefix}-", reserved)])
    error_message = "name_prefix must not be sthree or amzn-s3-demo, nor begin with xn--, sthree- or amzn-s3-demo-: S3 reserves these prefixes of bucket names, which begin with \"<name_prefix>-\"."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete buckets that still hold objects, so `make destroy` leaves nothing behind. Set false to protect data in a long-lived account."
  default     = true
}

variable "capture_retention_days" {
  type        = number
  description = "Days the captured endpoint requests and responses are kept in the capture bucket."
  default     = 30

  validation {
    condition     = var.capture_retention_days >= 1
    error_message = "capture_retention_days must be at least 1."
  }
}

variable "access_log_retention_days" {
  type        = number
  description = "Days the S3 server access logs of the project's buckets are kept."
  default     = 90

  validation {
    condition     = var.access_log_retention_days >= 1
    error_message = "access_log_retention_days must be at least 1."
  }
}

variable "alert_email" {
  type        = string
  description = "E-mail address subscribed to the alert topic (AWS sends a confirmation mail first); null for none. The alert queue is always subscribed."
  default     = null

  validation {
    # SNS refuses a malformed address (InvalidParameter) only when the subscription is made, after
    # the key, buckets, topic and queue were.
    condition     = var.alert_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be one e-mail address (name@domain.tld), or null for none."
  }
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Days between `terraform destroy` and the actual deletion of the KMS key (AWS allows 7 to 30)."
  default     = 7

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}
