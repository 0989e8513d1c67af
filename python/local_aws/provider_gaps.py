"""Calls that ``terraform apply``/``destroy`` and this project's tools make and moto 5.2.5 gets
wrong.

(The Step Functions and SageMaker endpoint gaps live in ``stepfunctions`` and
``sagemaker_runtime``.)

- S3 bucket policies: moto evaluates only ``StringEquals`` conditions and treats every other
  operator as matching, so the TLS-only statement every project bucket carries
  (``Deny`` when ``Bool aws:SecureTransport = false``) denied every request. Here ``Bool``
  conditions on the request context are evaluated, with ``aws:SecureTransport`` true: the stack
  listens on loopback only, so plain HTTP to it is as private as TLS (on AWS the same policy
  keeps requiring TLS).
- Application Auto Scaling ``TagResource``/``UntagResource``/``ListTagsForResource`` (moto: 500;
  the provider reads tags after registering the endpoint's scalable target), and the ``Tags`` of
  ``RegisterScalableTarget``.
- SageMaker ``DeleteModelPackage`` and ``DeleteModelPackageGroup`` (``terraform destroy`` of the
  registry group, ``make destroy``).
- SageMaker ``UpdateModelPackage`` changes only what the request names, as on AWS: moto replaced
  ``CustomerMetadataProperties`` with the request's (none, when approving a package by hand: the
  class labels ``make deploy`` needs were gone) and cleared the approval status and description
  the request left out.
"""

from __future__ import annotations

import json
from typing import Any

# What the stack knows about every request it serves, for policy conditions.
REQUEST_CONTEXT = {"aws:securetransport": "true"}


def install() -> None:
    _s3_bucket_policy_conditions()
    _application_autoscaling_tags()
    _sagemaker_model_package_deletion()
    _sagemaker_model_package_update()


def _statement_applies(statement: dict[str, Any]) -> bool:
    """False when a ``Bool`` condition on a known context key does not hold for this stack."""
    for operator, keys in (statement.get("Condition") or {}).items():
        if operator != "Bool":
            continue
        for key, expected in keys.items():
            actual = REQUEST_CONTEXT.get(key.lower())
            values = expected if isinstance(expected, list) else [expected]
            if actual is not None and actual not in [str(value).lower() for value in values]:
                return False
    return True


def _s3_bucket_policy_conditions() -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy)
        statements = document["Statement"]
        if isinstance(statements, dict):
            statements = [statements]
        document["Statement"] = [s for s in statements if _statement_applies(s)]
        if not document["Statement"]:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission


def _application_autoscaling_tags() -> None:
    from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
    from moto.utilities.tagging_service import TaggingService

    def tags_of(backend: ApplicationAutoscalingBackend) -> TaggingService:
        return backend.__dict__.setdefault("_local_tags", TaggingService())

    def as_list(tags: dict[str, str] | None) -> list[dict[str, str]]:
        return [{"Key": key, "Value": value} for key, value in (tags or {}).items()]

    original_register = ApplicationAutoScalingResponse.register_scalable_target

    def register_scalable_target(self: Any) -> str:
        answer = original_register(self)
        arn = json.loads(answer)["ScalableTargetARN"]
        tags_of(self.applicationautoscaling_backend).tag_resource(
            arn, as_list(self._get_param("Tags"))
        )
        return answer

    def tag_resource(self: Any) -> str:
        tags_of(self.applicationautoscaling_backend).tag_resource(
            self._get_param("ResourceARN"), as_list(self._get_param("Tags"))
        )
        return "{}"

    def untag_resource(self: Any) -> str:
        tags_of(self.applicationautoscaling_backend).untag_resource_using_names(
            self._get_param("ResourceARN"), self._get_param("TagKeys") or []
        )
        return "{}"

    def list_tags_for_resource(self: Any) -> str:
        tags = tags_of(self.applicationautoscaling_backend).get_tag_dict_for_resource(
            self._get_param("ResourceARN")
        )
        return json.dumps({"Tags": tags})

    ApplicationAutoScalingResponse.register_scalable_target = register_scalable_target
    ApplicationAutoScalingResponse.tag_resource = tag_resource
    ApplicationAutoScalingResponse.untag_resource = untag_resource
    ApplicationAutoScalingResponse.list_tags_for_resource = list_tags_for_resource


def _sagemaker_model_package_deletion() -> None:
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    def delete_model_package(self: Any) -> str:
        backend = self.sagemaker_backend
        name = self._get_param("ModelPackageName")
        arn = backend.model_package_name_mapping.get(name, name)
        if backend.model_packages.pop(arn, None) is None:
            raise ValidationError(f"Model package {name} not found")
        for alias in [k for k, v in backend.model_package_name_mapping.items() if v == arn]:
            del backend.model_package_name_mapping[alias]
        return "{}"

    def delete_model_package_group(self: Any) -> str:
        backend = self.sagemaker_backend
        name = self._get_param("ModelPackageGroupName")
        if any(p.model_package_group_name == name for p in backend.model_packages.values()):
            raise ValidationError(f"Model package group {name} still holds model packages")
        if backend.model_package_groups.pop(name, None) is None:
            raise ValidationError(f"Model package group {name} not found")
        return "{}"

    SageMakerResponse.delete_model_package = delete_model_package
    SageMakerResponse.delete_model_package_group = delete_model_package_group


def _sagemaker_model_package_update() -> None:
    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.update_model_package

    def update_model_package(
        self: Any,
        model_package_arn: str,
        model_approval_status: str | None,
        approval_description: str | None,
        customer_metadata_properties: dict[str, str] | None,
        customer_metadata_properties_to_remove: list[str] | None,
        additional_inference_specifications_to_add: list[Any] | None,
    ) -> str:
        name = self.model_package_name_mapping.get(model_package_arn, model_package_arn)
        package = self.model_packages.get(name)
        if package is not None:  # else moto's own "not found" error
            merged = dict(package.customer_metadata_properties or {})
            merged.update(customer_metadata_properties or {})
            customer_metadata_properties = merged
            if model_approval_status is None:
                model_approval_status = package.model_approval_status
            if approval_description is None:
                approval_description = package.approval_description
        return original(
            self,
            model_package_arn,
            model_approval_status,
            approval_description,
            customer_metadata_properties,
            customer_metadata_properties_to_remove or [],
            additional_inference_specifications_to_add,
        )

    SageMakerModelBackend.update_model_package = update_model_package  # type: ignore[method-assign]
