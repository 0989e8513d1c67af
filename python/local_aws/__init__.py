"""The local AWS stack: moto's server on 127.0.0.1 plus what this project needs and moto lacks.

``make up`` (``python -m local_aws up --port 4566``) starts it; any AWS tool talks to it with
``AWS_ENDPOINT_URL=http://127.0.0.1:4566`` and dummy credentials (``test``/``test``). The same
Terraform roots, ASL definitions, Lambda handlers and ``inference.py`` run here and on AWS.

Emulated (moto 5.2.5 provides the API surface and the state):
    S3, IAM, STS, SNS, SQS, CloudWatch, CloudWatch Logs, EventBridge (API), Lambda, Step
    Functions, SageMaker (models, endpoint configs, endpoints, model package groups/packages).

Added by this package:
    - Step Functions executions run for real (moto's ASL interpreter, switched on at start),
      unnamed executions get unique names, ``ValidateStateMachineDefinition`` and
      ``ListStateMachineVersions`` answer (``stepfunctions``).
    - Lambda ``Invoke`` runs the handler from the function's zip in warm worker processes with
      its environment variables and timeout; errors come back as Lambda reports them
      (``lambda_runtime``, ``lambda_worker``).
    - SageMaker Runtime ``InvokeEndpoint`` is served by model server processes that load the
      endpoint's ``model.tar.gz`` and call ``inference.py``'s ``model_fn``/``input_fn``/
      ``predict_fn``/``output_fn``; ``ModelError``/``ValidationError`` as on AWS;
      ``UpdateEndpoint`` (``sagemaker_runtime``, ``model_server``).
    - Endpoint data capture written to S3 in SageMaker's JSON Lines layout (``data_capture``).
    - Step Functions execution status change events on the default EventBridge bus, and
      EventBridge rules that publish to SNS topics (``execution_events``).
    - A control API under ``/_local/``: health, capture flush, fault injection, counters
      (``control``).
    - What ``terraform apply``/``destroy`` needs beyond that: bucket policies with
      ``aws:SecureTransport`` conditions, Application Auto Scaling tags, deletion of model
      packages and their group (``provider_gaps``).
    - Speed: keep-alive HTTP (``http_server``); the execution calls every client makes
      (``StartExecution``, ``DescribeExecution``, ``ListExecutions``, ``GetExecutionHistory``)
      and plain S3 ``GetObject`` calls (``s3_objects``) answered from the backend, and the interpreter's Lambda ``Invoke`` and SNS ``Publish``
      made in-process (``stepfunctions``); measured fixes of moto's per-request costs
      (``speedups``). See ``bench/bench_stack.py``.
    - SNS -> SQS subscriptions deliver in-process (moto), so alerts can be read from a queue.

Not emulated (differences to keep in mind):
    - IAM identity policies and KMS key policies are stored but not enforced; S3 bucket policies
      are evaluated by moto (conditions: ``StringEquals`` and, here, ``Bool`` on
      ``aws:SecureTransport``, which is true on this loopback-only stack).
    - EventBridge rules fire on Step Functions execution status changes only (not on schedules
      or S3 events); CloudWatch alarms do not evaluate; no metrics are emitted by services.
    - Endpoint autoscaling policies are stored but nothing scales; instance types, counts and
      serverless settings have no effect (each variant gets one model server process, and a
      second one while calls queue). ``InvokeEndpointAsync`` is moto's canned-answer stub.
    - Data capture records successful invocations (a failed call has no output to capture).
    - Endpoints are ``InService`` as soon as they are created (as in moto); the model loads in
      the background and the first invocations wait for it. A model that cannot load turns the
      endpoint ``Failed``.
    - Lambda: Python handlers only, run by this environment's Python with only the standard
      library and boto3 importable (as the AWS runtime); no layers, no container images, no
      reserved concurrency; at most eight concurrent workers per function (more invocations
      wait for one, the function timeout counting from the start of the handler), and a new
      worker starts only when an invocation has waited 50 ms for a busy one (a start costs
      about 0.75 s of CPU); output goes to the stack log, not to CloudWatch Logs.
    - The model server runs with this environment's packages; ``code/requirements.txt`` is not
      installed, and ``inference.py`` must define all four functions.
    - State is in memory: stopping the stack forgets every resource (``up`` then clears the
      local Terraform state so that the next ``make deploy`` recreates everything).
"""
