variable "name" {
  type        = string
  description = "Globally unique bucket name."
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of the customer managed KMS key used for default encryption (SSE-KMS with an S3 Bucket Key)."
}

variable "access_log_bucket" {
  type        = string
  description = "Name of the bucket that receives this bucket's S3 server access logs."
}

variable "force_destroy" {
  type        = bool
  description = "Delete every object version when the bucket is destroyed, so `terraform destroy` leaves nothing."
}

variable "noncurrent_version_days" {
  type        = number
  description = "Days after which overwritten or deleted object versions are removed."
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "expiring_prefix" {
  type        = string
  description = "Key prefix whose objects expire after expiration_days (for example captured inference data); null for none."
  default     = null
}

variable "expiration_days" {
  type        = number
  description = "Days after which objects under expiring_prefix expire; ignored when expiring_prefix is null."
  default     = 30

  validation {
    condition     = var.expiration_days >= 1
    error_message = "expiration_days must be at least 1."
  }
}
