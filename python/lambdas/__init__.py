"""The workflow's Lambda handlers: standard library and boto3 only, as the Lambda runtime has."""
