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
}

# ---------------------------------------------------------------------------------------------
# Outputs of terraform/base, passed by the Makefile as `-var-file build/<TARGET>/base.tfvars.json`.

variable "data_bucket" {
  type        = string
  description = "Base output: bucket of the processed dataset; serializeImageData reads images from it."
}

variable "model_bucket" {
  type        = string
  description = "Base output: bucket of the model artifacts (served through the model package; not accessed here)."
}

variable "capture_bucket" {
  type        = string
  description = "Base output: bucket that receives the endpoint's data capture."
}

variable "capture_prefix" {
  type        = string
  description = "Base output: key prefix of the data capture inside capture_bucket."
}

variable "sagemaker_role_arn" {
  type        = string
  description = "Base output: execution role of the SageMaker model."
}

variable "model_package_group_name" {
  type        = string
  description = "Base output: model registry group the served model package comes from (a tag of the model)."
}

variable "alert_topic_arn" {
  type        = string
  description = "Base output: SNS topic that the state machines and the EventBridge rule publish alerts to."
}

variable "alert_queue_url" {
  type        = string
  description = "Base output: SQS queue subscribed to the alert topic (read by `make alerts`, not used here)."
}

variable "kms_key_arn" {
  type        = string
  description = "Base output: customer managed KMS key for log groups, Lambda environment, endpoint storage and captured data."
}

# ---------------------------------------------------------------------------------------------
# The model, written by `python -m train.registry latest-approved --tfvars build/<TARGET>/model.tfvars.json`.

variable "model_package_arn" {
  type        = string
  description = "ARN of the model package to serve (the newest Approved one of the registry). Null to serve model_data_url with inference_image instead."
  default     = null
}

variable "model_data_url" {
  type        = string
  description = "S3 URL of a model.tar.gz; served (with inference_image) only when model_package_arn is null."
  default     = null
}

variable "inference_image" {
  type        = string
  description = "Inference container image URI for model_data_url (for example a SageMaker PyTorch inference image); unused with model_package_arn."
  default     = null
}

variable "class_labels" {
  type        = list(string)
  description = "Class names in the label order of the model's output probabilities (CLASS_LABELS of the Lambdas)."

  validation {
    condition     = length(var.class_labels) >= 2
    error_message = "class_labels must name at least two classes."
  }

  # An empty name makes the classify Lambda refuse every call (ConfigurationError); a repeated
  # one would make two classes the same in the workflow's results.
  validation {
    condition     = alltrue([for label in var.class_labels : trimspace(label) != ""]) && length(distinct(var.class_labels)) == length(var.class_labels)
    error_message = "class_labels must be distinct, non-empty names."
  }
}

# ---------------------------------------------------------------------------------------------
# Endpoint.

variable "instance_type" {
  type        = string
  description = "Instance type of the endpoint (see `make deploy TARGET=aws` for its hourly price)."
  default     = "ml.m5.large"
}

variable "initial_instance_count" {
  type        = number
  description = "Instances the endpoint starts with; autoscaling then keeps the count between autoscaling_min and autoscaling_max."
  default     = 1
}

variable "autoscaling_min" {
  type        = number
  description = "Fewest instances target-tracking autoscaling keeps."
  default     = 1

  validation {
    condition     = var.autoscaling_min >= 1
    error_message = "autoscaling_min must be at least 1 (a real-time endpoint cannot scale to zero)."
  }
}

variable "autoscaling_max" {
  type        = number
  description = "Most instances target-tracking autoscaling adds."
  default     = 2
}

variable "invocations_per_instance_target" {
  type        = number
  description = "Target of SageMakerVariantInvocationsPerInstance (invocations per instance per minute) for autoscaling."
  default     = 600

  validation {
    condition     = var.invocations_per_instance_target > 0
    error_message = "invocations_per_instance_target must be positive."
  }
}

variable "capture_sampling_percentage" {
  type        = number
  description = "Percentage of invocations whose request and response data capture stores."
  default     = 100

  validation {
    condition     = var.capture_sampling_percentage >= 0 && var.capture_sampling_percentage <= 100
    error_message = "capture_sampling_percentage must be between 0 and 100."
  }
}

# ---------------------------------------------------------------------------------------------
# Workflow.

variable "lambda_zip" {
  type        = string
  description = "Path of the Lambda deployment package built by `make lambdas` (python -m lambdas.package)."
}

variable "confidence_threshold" {
  type        = number
  description = "THRESHOLD of filterInferences: inferences below this confidence fail with LowConfidence."
  default     = 0.93

  validation {
    condition     = var.confidence_threshold > 0 && var.confidence_threshold <= 1
    error_message = "confidence_threshold must be in (0, 1]."
  }
}

variable "max_concurrency" {
  type        = number
  description = "MaxConcurrency of the batch state machine's Map state (images classified at once)."
  default     = 10

  validation {
    # It becomes the Map state's MaxConcurrency, which Step Functions takes as an integer only.
    condition     = var.max_concurrency >= 0 && floor(var.max_concurrency) == var.max_concurrency
    error_message = "max_concurrency must be a whole number, 0 (no limit) or more: it is the MaxConcurrency of the batch state machine's Map state, an integer."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days CloudWatch Logs keeps the Lambda, state machine and endpoint logs."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}
