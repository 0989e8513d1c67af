# Long-lived resources that `make data` and `make train` need before anything is served: the
# project's KMS key, its buckets (data, model artifacts, data capture, access logs), the SageMaker
# execution role, the alert topic with its queue, and the model registry's package group.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  # Bucket names are global: account and region make them unique without a random suffix.
  bucket_suffix    = "${local.account_id}-${local.region}"
  alert_topic_arn  = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${var.name_prefix}-alerts"
  alert_queue_name = "${var.name_prefix}-alerts"
  alert_queue_arn  = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.alert_queue_name}"
  # The serving root names its EventBridge rules with the same prefix.
  rule_arn_pattern = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${var.name_prefix}-*"
}

# ---------------------------------------------------------------------------------------------
# KMS: one customer managed key encrypts the buckets, the alert topic and queue, the log groups,
# the Lambda environment and the endpoint's storage and captured data.

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:This is a key policy: Resource "*" means this key only, and the account statement is the standard delegation of the key to IAM.
  #checkov:skip=CKV_AWS_111:This is a key policy: Resource "*" means this key only; the service statements carry source ARN conditions.
  #checkov:skip=CKV_AWS_356:This is a key policy: Resource "*" means this key only (AWS requires "*" in key policies).
  statement {
    sid = "AccountAdministersKeyThroughIam"
    # In a key policy "*" stands for this key; IAM policies of the account grant the actual use.
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsProjectLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      # The serving root's log groups: its Lambdas', its state machines' and its endpoint's.
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${var.name_prefix}-*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/vendedlogs/states/${var.name_prefix}-*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/Endpoints/${var.name_prefix}-*",
      ]
    }
  }

  statement {
    sid       = "EventBridgePublishesToEncryptedAlertTopic"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.rule_arn_pattern]
    }
  }

  statement {
    sid       = "AlertTopicDeliversToEncryptedQueue"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.alert_topic_arn]
    }
  }
}

resource "aws_kms_key" "main" {
  description             = "${var.name_prefix}: buckets, alert topic and queue, logs, Lambda environment, SageMaker endpoint storage and data capture"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.main.key_id
}

# ---------------------------------------------------------------------------------------------
# S3: the access-log bucket, then the three project buckets (module secure_bucket).

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_145:S3 server access log delivery supports only SSE-S3 (AES256) default encryption on the destination bucket, not SSE-KMS.
  #checkov:skip=CKV_AWS_144:Access logs are kept for access_log_retention_days in one region; replicating them would double their cost.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of the access-log bucket.
  bucket        = "${var.name_prefix}-access-logs-${local.bucket_suffix}"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "S3ServerAccessLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:s3:::${var.name_prefix}-*"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket     = aws_s3_bucket.access_logs.id
  policy     = data.aws_iam_policy_document.access_logs.json
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

locals {
  # Taken from the bucket policy, so that buckets log to it only once log delivery is allowed.
  access_log_bucket = aws_s3_bucket_policy.access_logs.bucket
}

module "data_bucket" {
  source            = "../modules/secure_bucket"
  name              = "${var.name_prefix}-data-${local.bucket_suffix}"
  kms_key_arn       = aws_kms_key.main.arn
  access_log_bucket = local.access_log_bucket
  force_destroy     = var.force_destroy
}

module "model_bucket" {
  source            = "../modules/secure_bucket"
  name              = "${var.name_prefix}-models-${local.bucket_suffix}"
  kms_key_arn       = aws_kms_key.main.arn
  access_log_bucket = local.access_log_bucket
  force_destroy     = var.force_destroy
}

module "capture_bucket" {
  source            = "../modules/secure_bucket"
  name              = "${var.name_prefix}-capture-${local.bucket_suffix}"
  kms_key_arn       = aws_kms_key.main.arn
  access_log_bucket = local.access_log_bucket
  force_destroy     = var.force_destroy
  expiring_prefix   = "${local.capture_prefix}/"
  expiration_days   = var.capture_retention_days
}

locals {
  # The endpoint's data capture writes under s3://<capture bucket>/<capture_prefix>/.
  capture_prefix = "datacapture"
}

# ---------------------------------------------------------------------------------------------
# IAM: the SageMaker execution role, used by training jobs (TARGET=aws) and by the endpoint.

data "aws_iam_policy_document" "sagemaker_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "sagemaker" {
  # IAM names are global to the account, the rest of a deployment is regional: the region in the
  # name lets another AWS_REGION deploy next to this one.
  name               = "${var.name_prefix}-sagemaker-${local.region}"
  description        = "Execution role of the project's SageMaker training jobs, model and endpoint."
  assume_role_policy = data.aws_iam_policy_document.sagemaker_assume.json
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid     = "ListProjectBuckets"
    actions = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [
      module.data_bucket.arn,
      module.model_bucket.arn,
      module.capture_bucket.arn,
    ]
  }

  statement {
    sid       = "ReadTrainingData"
    actions   = ["s3:GetObject"]
    resources = ["${module.data_bucket.arn}/*"]
  }

  statement {
    sid = "ReadAndWriteModelArtifacts"
    # Training jobs write model.tar.gz, the endpoint and the next training job read it.
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${module.model_bucket.arn}/*"]
  }

  statement {
    sid       = "WriteCapturedData"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${module.capture_bucket.arn}/${local.capture_prefix}/*"]
  }

  statement {
    sid       = "UseProjectKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.main.arn]
  }

  statement {
    sid = "PullContainerImagesAuth"
    # ecr:GetAuthorizationToken supports no resource-level permissions: AWS requires "*".
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PullContainerImages"
    # SageMaker's framework images (PyTorch) live in AWS-owned registries of other accounts.
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = ["arn:${local.partition}:ecr:${local.region}:*:repository/*"]
  }

  statement {
    sid = "WriteJobAndEndpointLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]
    # The groups SageMaker writes to for training jobs and for the project's endpoint.
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs",
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs:log-stream:*",
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/Endpoints/${var.name_prefix}-*",
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/Endpoints/${var.name_prefix}-*:log-stream:*",
    ]
  }

  statement {
    sid = "PublishJobMetrics"
    # cloudwatch:PutMetricData supports no resource-level permissions: AWS requires "*"; the
    # condition limits it to SageMaker's namespaces.
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/*"]
    }
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "${var.name_prefix}-sagemaker-permissions"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

# ---------------------------------------------------------------------------------------------
# Alerts: an encrypted SNS topic (state machine Catch paths and EventBridge publish to it) and an
# encrypted SQS queue subscribed to it, read by `make alerts`.

resource "aws_sns_topic" "alerts" {
  name              = "${var.name_prefix}-alerts"
  kms_master_key_id = aws_kms_key.main.arn
}

data "aws_iam_policy_document" "alerts_topic" {
  statement {
    sid       = "EventBridgeRulesOfTheProjectPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.rule_arn_pattern]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts_topic.json
}

data "aws_iam_policy_document" "alerts_queue" {
  statement {
    sid       = "AlertTopicDelivers"
    actions   = ["sqs:SendMessage"]
    resources = [local.alert_queue_arn]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.alerts.arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [local.alert_queue_arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue" "alerts" {
  name                      = local.alert_queue_name
  kms_master_key_id         = aws_kms_key.main.arn
  message_retention_seconds = 1209600
  # Inline rather than aws_sqs_queue_policy: the provider waits about 25 s for queue attributes
  # to settle after each change, so one resource waits once.
  policy = data.aws_iam_policy_document.alerts_queue.json
}

resource "aws_sns_topic_subscription" "alerts_queue" {
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "sqs"
  endpoint  = aws_sqs_queue.alerts.arn
  # The queue receives the published message itself (JSON), not SNS's envelope around it.
  raw_message_delivery = true
}

resource "aws_sns_topic_subscription" "alerts_email" {
  count     = var.alert_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

# ---------------------------------------------------------------------------------------------
# Model registry: `make train` registers model packages here, `make deploy` serves the newest
# approved one.

resource "aws_sagemaker_model_package_group" "models" {
  model_package_group_name        = "${var.name_prefix}-models"
  model_package_group_description = "Bicycle vs motorcycle classifiers trained by `make train`."
}
