# What `make deploy` serves: the SageMaker model (from the registry), its endpoint configuration
# with data capture, the endpoint with target-tracking autoscaling, the workflow's Lambda
# functions, the state machines rendered from asl/, and the EventBridge rule that alerts on
# failed executions. Long-lived resources (buckets, key, roles of SageMaker, alert topic) come
# from terraform/base through variables.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  endpoint_name  = "${var.name_prefix}-endpoint"
  endpoint_arn   = "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:endpoint/${local.endpoint_name}"
  variant_name   = "AllTraffic"
  capture_s3_uri = "s3://${var.capture_bucket}/${var.capture_prefix}"

  # Model and endpoint configuration names carry a hash of what they are made of: a new model (or
  # new settings) gets new names, so create_before_destroy can build it next to the old one and
  # the endpoint switches without downtime.
  model_source = var.model_package_arn != null ? var.model_package_arn : "${coalesce(var.inference_image, "-")}|${coalesce(var.model_data_url, "-")}"
  model_name   = "${var.name_prefix}-model-${substr(sha256("${local.model_source}|${var.sagemaker_role_arn}"), 0, 12)}"
  endpoint_config_name = "${var.name_prefix}-config-${substr(sha256(jsonencode([
    local.model_name,
    var.instance_type,
    var.initial_instance_count,
    var.capture_sampling_percentage,
    local.capture_s3_uri,
    var.kms_key_arn,
  ])), 0, 12)}"
}

# ---------------------------------------------------------------------------------------------
# SageMaker: model, endpoint configuration with data capture, endpoint, autoscaling.

resource "aws_sagemaker_model" "this" {
  name               = local.model_name
  execution_role_arn = var.sagemaker_role_arn
  # The container reaches nothing but the artifact SageMaker hands it (code/requirements.txt
  # cannot pip-install at start-up: the PyTorch image already has what inference.py imports).
  enable_network_isolation = true

  primary_container {
    model_package_name = var.model_package_arn
    image              = var.model_package_arn == null ? var.inference_image : null
    model_data_url     = var.model_package_arn == null ? var.model_data_url : null
  }

  tags = {
    ModelPackageGroup = var.model_package_group_name
  }

  lifecycle {
    create_before_destroy = true
    # The local stack (moto) echoes an empty vpc_config block that was never set and always
    # reports enable_network_isolation = false; without this, every plan would replace the model.
    # Neither can drift on AWS (a model is immutable) and both are constants here.
    ignore_changes = [vpc_config, enable_network_isolation]

    precondition {
      condition     = var.model_package_arn != null || (var.model_data_url != null && var.inference_image != null)
      error_message = "Set model_package_arn (make train registers one), or both model_data_url and inference_image."
    }
  }
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  name        = local.endpoint_config_name
  kms_key_arn = var.kms_key_arn

  production_variants {
    variant_name           = local.variant_name
    model_name             = aws_sagemaker_model.this.name
    initial_instance_count = var.initial_instance_count
    instance_type          = var.instance_type
  }

  data_capture_config {
    enable_capture              = true
    initial_sampling_percentage = var.capture_sampling_percentage
    destination_s3_uri          = local.capture_s3_uri
    kms_key_id                  = var.kms_key_arn

    capture_options {
      capture_mode = "InputAndOutput"
    }

    # Responses are JSON: captured as text instead of base64, so the records stay readable.
    capture_content_type_header {
      json_content_types = ["application/json"]
    }
  }

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = var.initial_instance_count >= var.autoscaling_min && var.initial_instance_count <= var.autoscaling_max
      error_message = "initial_instance_count must lie between autoscaling_min and autoscaling_max."
    }
  }
}

# The log group SageMaker writes the endpoint's container logs to. Made here, before the
# endpoint, so that it has a retention and the project key; SageMaker would otherwise create it
# on first use, unencrypted by the project key, kept forever and left behind by a destroy.
resource "aws_cloudwatch_log_group" "endpoint" {
  name              = "/aws/sagemaker/Endpoints/${local.endpoint_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = local.endpoint_name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name

  depends_on = [aws_cloudwatch_log_group.endpoint]
}

resource "aws_appautoscaling_target" "endpoint" {
  service_namespace  = "sagemaker"
  resource_id        = "endpoint/${aws_sagemaker_endpoint.this.name}/variant/${local.variant_name}"
  scalable_dimension = "sagemaker:variant:DesiredInstanceCount"
  min_capacity       = var.autoscaling_min
  max_capacity       = var.autoscaling_max
}

resource "aws_appautoscaling_policy" "endpoint" {
  name               = "${var.name_prefix}-invocations-per-instance"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.endpoint.service_namespace
  resource_id        = aws_appautoscaling_target.endpoint.resource_id
  scalable_dimension = aws_appautoscaling_target.endpoint.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.invocations_per_instance_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "SageMakerVariantInvocationsPerInstance"
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Lambda: the workflow's four functions, each with its own least-privilege role.

data "aws_iam_policy_document" "serialize" {
  statement {
    sid       = "ReadImages"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${var.data_bucket}/*"]
  }

  statement {
    sid       = "DecryptImages"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "classify" {
  statement {
    sid       = "InvokeEndpoint"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = [local.endpoint_arn]
  }
}

locals {
  lambda_environment = {
    ENDPOINT_NAME = local.endpoint_name
    THRESHOLD     = tostring(var.confidence_threshold)
    CLASS_LABELS  = jsonencode(var.class_labels)
  }
}

module "serialize_image_data" {
  source             = "../modules/lambda_function"
  function_name      = "${var.name_prefix}-serializeImageData"
  description        = "Reads an image from the data bucket and returns it base64 encoded."
  handler            = "lambdas.serialize_image_data.handler"
  zip_path           = var.lambda_zip
  timeout            = 15
  environment        = local.lambda_environment
  policy_json        = data.aws_iam_policy_document.serialize.json
  kms_key_arn        = var.kms_key_arn
  log_retention_days = var.log_retention_days
}

module "classify_image" {
  source             = "../modules/lambda_function"
  function_name      = "${var.name_prefix}-classifyImage"
  description        = "Classifies a base64 image with the SageMaker endpoint."
  handler            = "lambdas.classify_image.handler"
  zip_path           = var.lambda_zip
  timeout            = 30
  environment        = local.lambda_environment
  policy_json        = data.aws_iam_policy_document.classify.json
  kms_key_arn        = var.kms_key_arn
  log_retention_days = var.log_retention_days
}

module "filter_inferences" {
  source             = "../modules/lambda_function"
  function_name      = "${var.name_prefix}-filterInferences"
  description        = "Passes confident inferences through, fails the rest with LowConfidence."
  handler            = "lambdas.filter_inferences.handler"
  zip_path           = var.lambda_zip
  timeout            = 10
  environment        = local.lambda_environment
  kms_key_arn        = var.kms_key_arn
  log_retention_days = var.log_retention_days
}

module "summarize_batch" {
  source             = "../modules/lambda_function"
  function_name      = "${var.name_prefix}-summarizeBatch"
  description        = "Counts the outcomes of a batch per status for its output and its alert."
  handler            = "lambdas.summarize_batch.handler"
  zip_path           = var.lambda_zip
  timeout            = 10
  environment        = local.lambda_environment
  kms_key_arn        = var.kms_key_arn
  log_retention_days = var.log_retention_days
}

# ---------------------------------------------------------------------------------------------
# Step Functions: the single-image and the batch state machines from asl/.

locals {
  functions = {
    serialize_image_data = module.serialize_image_data
    classify_image       = module.classify_image
    filter_inferences    = module.filter_inferences
    summarize_batch      = module.summarize_batch
  }

  # templatefile variables of asl/*.asl.json.
  asl_vars = {
    serialize_function_arn = module.serialize_image_data.arn
    classify_function_arn  = module.classify_image.arn
    filter_function_arn    = module.filter_inferences.arn
    summarize_function_arn = module.summarize_batch.arn
    alert_topic_arn        = var.alert_topic_arn
    max_concurrency        = var.max_concurrency
  }

  state_machines = {
    classify-image = "classify_image.asl.json"
    classify-batch = "classify_batch.asl.json"
  }
}

data "aws_iam_policy_document" "states_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "states" {
  # IAM names are global to the account: the region in the name keeps deployments of one
  # name_prefix in two regions apart.
  name               = "${var.name_prefix}-states-${local.region}"
  description        = "Execution role of the project's state machines."
  assume_role_policy = data.aws_iam_policy_document.states_assume.json
}

data "aws_iam_policy_document" "states" {
  statement {
    sid     = "InvokeWorkflowFunctions"
    actions = ["lambda:InvokeFunction"]
    resources = flatten([
      for f in values(local.functions) : [f.arn, "${f.arn}:*"]
    ])
  }

  statement {
    sid       = "PublishAlerts"
    actions   = ["sns:Publish"]
    resources = [var.alert_topic_arn]
  }

  statement {
    sid = "EncryptAlertsForTheTopic"
    # The alert topic is encrypted with the project key.
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid = "DeliverExecutionLogs"
    # Step Functions log delivery goes through the CloudWatch Logs vended-log API, whose actions
    # support no resource-level permissions: AWS requires "*".
    actions = [
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]
    resources = ["*"]
  }

  statement {
    sid = "WriteTraces"
    # X-Ray's trace actions support no resource-level permissions: AWS requires "*".
    actions   = ["xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "states" {
  name   = "${var.name_prefix}-states-permissions"
  role   = aws_iam_role.states.id
  policy = data.aws_iam_policy_document.states.json
}

resource "aws_cloudwatch_log_group" "states" {
  for_each          = local.state_machines
  name              = "/aws/vendedlogs/states/${var.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_sfn_state_machine" "this" {
  for_each   = local.state_machines
  name       = "${var.name_prefix}-${each.key}"
  role_arn   = aws_iam_role.states.arn
  type       = "STANDARD"
  definition = templatefile("${path.module}/../../asl/${each.value}", local.asl_vars)

  logging_configuration {
    log_destination = "${aws_cloudwatch_log_group.states[each.key].arn}:*"
    # ERROR keeps failed states with their input and error; ALL would also log every payload,
    # including the base64 image of each execution.
    level                  = "ERROR"
    include_execution_data = true
  }

  tracing_configuration {
    enabled = true
  }

  depends_on = [aws_iam_role_policy.states]
}

# ---------------------------------------------------------------------------------------------
# EventBridge: every FAILED, TIMED_OUT or ABORTED execution goes to the alert topic (whose
# policy, in terraform/base, lets rules named "<name_prefix>-*" publish).

resource "aws_cloudwatch_event_rule" "execution_failed" {
  name        = "${var.name_prefix}-execution-failed"
  description = "Failed, timed out or aborted executions of the project's state machines."

  event_pattern = jsonencode({
    source      = ["aws.states"]
    detail-type = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
      stateMachineArn = [for sm in aws_sfn_state_machine.this : sm.arn]
    }
  })
}

resource "aws_cloudwatch_event_target" "execution_failed" {
  rule = aws_cloudwatch_event_rule.execution_failed.name
  arn  = var.alert_topic_arn
}
