output "endpoint_name" {
  description = "SageMaker endpoint that serves the model."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_config_name" {
  description = "Endpoint configuration in service (its name changes with the model)."
  value       = aws_sagemaker_endpoint_configuration.this.name
}

output "model_name" {
  description = "SageMaker model in service."
  value       = aws_sagemaker_model.this.name
}

output "state_machine_arn" {
  description = "State machine that classifies one image ({\"s3_bucket\", \"s3_key\"})."
  value       = aws_sfn_state_machine.this["classify-image"].arn
}

output "batch_state_machine_arn" {
  description = "State machine that classifies a batch ({\"images\": [...]}) with a Map state."
  value       = aws_sfn_state_machine.this["classify-batch"].arn
}

output "alert_topic_arn" {
  description = "SNS topic of the workflow's alerts."
  value       = var.alert_topic_arn
}

output "data_bucket" {
  description = "Bucket the workflow reads images from."
  value       = var.data_bucket
}

output "capture_s3_uri" {
  description = "Data capture destination; SageMaker writes under <capture_s3_uri>/<endpoint_name>/<variant>/yyyy/mm/dd/hh/."
  value       = local.capture_s3_uri
}

output "lambda_function_names" {
  description = "Lambda function names keyed by handler module (serialize_image_data, classify_image, filter_inferences, summarize_batch)."
  value       = { for key, f in local.functions : key => f.name }
}

output "threshold" {
  description = "Confidence below which the workflow ends an image with LowConfidence (the monitoring report marks it)."
  value       = var.confidence_threshold
}

output "model_data_url" {
  description = "S3 URI of the deployed model.tar.gz (its baseline.json lies beside it)."
  value       = var.model_data_url
}
