output "data_bucket" {
  description = "Bucket of the processed dataset (train/, test/, *.lst, labels.json)."
  value       = module.data_bucket.name
}

output "model_bucket" {
  description = "Bucket of the model artifacts (models/<run-id>/model.tar.gz, evaluation.json, baseline.json)."
  value       = module.model_bucket.name
}

output "capture_bucket" {
  description = "Bucket that receives the endpoint's data capture."
  value       = module.capture_bucket.name
}

output "capture_prefix" {
  description = "Key prefix of the data capture inside capture_bucket (the execution role may write only there)."
  value       = local.capture_prefix
}

output "sagemaker_role_arn" {
  description = "Execution role of SageMaker training jobs, models and endpoints."
  value       = aws_iam_role.sagemaker.arn
}

output "model_package_group_name" {
  description = "Model registry group that `make train` registers model packages in."
  value       = aws_sagemaker_model_package_group.models.model_package_group_name
}

output "alert_topic_arn" {
  description = "SNS topic of the workflow's alerts."
  value       = aws_sns_topic.alerts.arn
}

output "alert_queue_url" {
  description = "SQS queue subscribed to the alert topic (read by `make alerts`)."
  value       = aws_sqs_queue.alerts.id
}

output "kms_key_arn" {
  description = "Customer managed KMS key of the project's data at rest."
  value       = aws_kms_key.main.arn
}

output "name_prefix" {
  description = "Prefix of every resource name. The serving root takes it from here, so the key and topic policies written for its log groups and alert rule match the names it uses."
  value       = var.name_prefix
}
