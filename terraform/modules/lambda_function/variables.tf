variable "function_name" {
  type        = string
  description = "Lambda function name; also names its log group and (with the region appended) its IAM role."
}

variable "description" {
  type        = string
  description = "What the function does, shown in the Lambda console."
}

variable "handler" {
  type        = string
  description = "Python handler, `module.function`, inside the deployment package."
}

variable "zip_path" {
  type        = string
  description = "Path of the deployment package (zip) built outside Terraform."
}

variable "environment" {
  type        = map(string)
  description = "Environment variables of the function."
  default     = {}
}

variable "timeout" {
  type        = number
  description = "Seconds an invocation may run before Lambda stops it."
  default     = 30
}

variable "memory_size" {
  type        = number
  description = "Memory in MB (CPU is allotted in proportion)."
  default     = 256
}

variable "policy_json" {
  type        = string
  description = "IAM policy document with the permissions the handler needs beyond writing its own logs and traces; null for none."
  default     = null
}

variable "kms_key_arn" {
  type        = string
  description = "Customer managed KMS key that encrypts the environment variables and the log group."
}

variable "log_retention_days" {
  type        = number
  description = "Days CloudWatch Logs keeps the function's logs."
}
