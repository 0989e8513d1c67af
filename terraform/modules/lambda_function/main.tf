# One Lambda function with its own execution role (logs and traces of this function only, plus
# what the caller grants through policy_json) and its own encrypted log group with retention.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  log_group_name = "/aws/lambda/${var.function_name}"
  log_group_arn  = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:${local.log_group_name}"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  # IAM names are global to the account, function names regional: "<function>-<region>".
  name               = "${var.function_name}-${data.aws_region.current.name}"
  description        = "Execution role of the Lambda function ${var.function_name}."
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "this" {
  source_policy_documents = var.policy_json == null ? [] : [var.policy_json]

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  statement {
    sid = "WriteTraces"
    # X-Ray's trace upload actions support no resource-level permissions: AWS requires "*".
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.function_name}-permissions"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile, which the local stack lacks; the package is built from this repository by `make lambdas` and deployed by Terraform only.
  #checkov:skip=CKV_AWS_117:The handlers only call S3 and SageMaker Runtime public endpoints; a VPC would need NAT or interface endpoints (about 7 USD a month each) for no isolation gain.
  #checkov:skip=CKV_AWS_116:Step Functions invokes the functions synchronously; a dead-letter queue only receives failed asynchronous invocations. Failures are caught by the state machine and alerted.
  #checkov:skip=CKV_AWS_115:Reserved concurrency cannot be set on new accounts (their 10-execution quota may not drop below 10 unreserved); the state machine's MaxConcurrency bounds the fan-out instead.
  function_name    = var.function_name
  description      = var.description
  role             = aws_iam_role.this.arn
  runtime          = "python3.12"
  handler          = var.handler
  filename         = var.zip_path
  source_code_hash = filebase64sha256(var.zip_path)
  timeout          = var.timeout
  memory_size      = var.memory_size
  kms_key_arn      = var.kms_key_arn

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = "Active"
  }

  # The log group exists (with retention and encryption) before the function can log, and the
  # role can write to it before the first invocation.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}
