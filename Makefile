# Scones Unlimited: bicycle vs motorcycle classification on SageMaker, Lambda and Step Functions.
# `make help` lists every target and variable. TARGET=local (default) runs against the local AWS
# stack on 127.0.0.1; TARGET=aws runs the very same code against the account of your credentials.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

##@ Variables
TARGET ?= local## where to run: `local` (the local AWS stack, no account needed) or `aws`
AWS_REGION ?= us-east-1## AWS region (the local stack uses it too)
LOCAL_PORT ?= 4566## port of the local AWS stack on 127.0.0.1 (LocalStack's convention)
CLASSES ?= bicycle,motorcycle## CIFAR-100 class names to keep, comma separated; `vehicles` = all ten vehicle classes
CIFAR_TARBALL ?=## local copy of cifar-100-python.tar.gz; empty = download it (md5 checked)
APPROVAL_THRESHOLD ?= 0.9## test accuracy at or above which `make train` approves the model package
TRAIN_INSTANCE_TYPE ?= ml.p3.2xlarge## SageMaker training instance for TARGET=aws
TRAIN_SPOT ?= 0## 1 = managed spot training for TARGET=aws
HYPERPARAMETERS ?=## extra training hyperparameters, e.g. `epochs=5 batch-size=64`
IMAGE ?=## image file for `make predict`
EXECUTION ?=## execution ARN for `make graph` to colour by state status
MODE ?= burst## load test mode: burst, stream or batch
N ?= 200## load test: executions (burst) or images (batch)
RATE ?= 20## load test stream: executions per second
DURATION ?= 60## load test stream: seconds
CONCURRENCY ?= 16## load test: executions in flight at once
DRIFT ?= 0## load test: 1 = part of the traffic is altered images (drift for the report)
FAULTS ?= 0## load test, local only: fraction of endpoint calls that fail or stall
MAX_ERROR_RATE ?= 0.2## load test exits non-zero above this error rate
MAX_EXECUTIONS ?= 5000## load test: hard cap on executions started
YES ?= 0## 1 = skip the cost confirmation of TARGET=aws load tests
TF_PLUGIN_DIR ?= /opt/tf-plugins## offline Terraform provider directory; the registry is used where it is absent
TF_BACKEND_CONFIG ?=## TARGET=aws: file of S3 backend settings for remote Terraform state (optional)
LOG_LEVEL ?= WARNING## log verbosity of the Python tools (DEBUG, INFO, WARNING)

export TARGET AWS_REGION LOG_LEVEL
export AWS_DEFAULT_REGION := $(AWS_REGION)

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUILD := build/$(TARGET)

ifeq ($(TARGET),local)
# The local stack: dummy credentials, loopback endpoint. Nothing here can reach real AWS.
export AWS_ENDPOINT_URL := http://127.0.0.1:$(LOCAL_PORT)
export AWS_ACCESS_KEY_ID := test
export AWS_SECRET_ACCESS_KEY := test
unexport AWS_PROFILE AWS_SESSION_TOKEN
STACK := stack
else ifeq ($(TARGET),aws)
STACK :=
else
$(error TARGET must be `local` or `aws`, not `$(TARGET)`)
endif

##@ Getting started
.PHONY: help
help: ## show this help: every target and every variable
	@awk 'BEGIN {FS = ":.*## "} \
	  /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5); next} \
	  /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2; next} \
	  /^[A-Z_]+ \?=.*## / {split($$0, a, "## "); split(a[1], v, / *[?]= */); \
	     printf "  \033[33m%-20s\033[0m %s (default: %s)\n", v[1], a[2], (v[2] == "" ? "empty" : v[2])}' \
	  $(MAKEFILE_LIST)

.PHONY: setup
setup: $(STAMP) ## create .venv and install the pinned dependencies

$(STAMP): requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

.PHONY: demo
demo: $(STAMP) ## the whole pipeline locally: data, train, deploy, predict, load test, report
	$(PY) -m demo

##@ Local AWS stack
.PHONY: up down status alerts
up: $(STAMP) ## start the local AWS stack on 127.0.0.1:LOCAL_PORT (no-op when running)
	@$(PY) -m local_aws up --port $(LOCAL_PORT)

down: $(STAMP) ## stop the local AWS stack (flushes data capture first)
	@$(PY) -m local_aws down --port $(LOCAL_PORT)

status: $(STAMP) ## whether the local stack runs and what is deployed
	@$(PY) -m local_aws status --port $(LOCAL_PORT)

stack: $(STAMP)
	@$(PY) -m local_aws up --port $(LOCAL_PORT) --quiet

alerts: $(STAMP) $(STACK) ## print the alerts published to the SNS alert topic
	@$(PY) -m monitor.alerts

##@ Pipeline
.PHONY: data train predict graph loadtest report
data: $(STAMP) infra ## ETL: CIFAR-100 -> data/processed (PNG, .lst, labels.json) -> data bucket
	@$(PY) -m etl --classes '$(CLASSES)' $(if $(CIFAR_TARBALL),--tarball '$(CIFAR_TARBALL)')

train: $(STAMP) infra ## train, evaluate on the test split, register the model package
	@$(PY) -m train --approval-threshold $(APPROVAL_THRESHOLD) \
	  --instance-type $(TRAIN_INSTANCE_TYPE) $(if $(filter 1,$(TRAIN_SPOT)),--spot) \
	  $(foreach hp,$(HYPERPARAMETERS),--hyperparameter $(hp))

predict: $(STAMP) $(STACK) ## classify IMAGE=path with the deployed endpoint
	@$(PY) -m train.predict '$(IMAGE)'

graph: $(STAMP) ## render the state machines to reports/ (EXECUTION=arn colours one run)
	@$(PY) -m monitor.graph $(if $(EXECUTION),--execution '$(EXECUTION)')

loadtest: $(STAMP) $(STACK) ## drive the deployed workflow (MODE, N, RATE, DURATION, DRIFT, FAULTS)
	@$(PY) -m loadtest --mode $(MODE) --n $(N) --rate $(RATE) --duration $(DURATION) \
	  --concurrency $(CONCURRENCY) --drift $(DRIFT) --faults $(FAULTS) \
	  --max-error-rate $(MAX_ERROR_RATE) --max-executions $(MAX_EXECUTIONS) \
	  $(if $(filter 1,$(YES)),--yes)

report: $(STAMP) $(STACK) ## monitoring report from data capture -> reports/<time>/report.html
	@$(PY) -m monitor.report

##@ Infrastructure (Terraform)
# Two roots: terraform/base (buckets, roles, alert topic, model registry group; `make data` and
# `make train` need it) and terraform/serving (endpoint, Lambdas, state machines; `make deploy`).
# State and outputs live under build/<TARGET>/; a fresh local stack starts from an empty build/local.
TF_BACKEND_FILE = terraform/$(1)/backend_override.tf
tf = TF_DATA_DIR=$(abspath $(BUILD))/terraform/$(1) terraform -chdir=terraform/$(1)
tf_vars = -var 'aws_region=$(AWS_REGION)' $(if $(AWS_ENDPOINT_URL),-var 'local_endpoint=$(AWS_ENDPOINT_URL)')

define tf_init
	@mkdir -p $(BUILD)
	@if [ -n '$(TF_BACKEND_CONFIG)' ]; then echo 'terraform { backend "s3" {} }' > $(call TF_BACKEND_FILE,$(1)); \
	  else rm -f $(call TF_BACKEND_FILE,$(1)); fi
	@$(call tf,$(1)) init -input=false -reconfigure >$(BUILD)/terraform-$(1)-init.log \
	  $(if $(TF_BACKEND_CONFIG),-backend-config='$(abspath $(TF_BACKEND_CONFIG))' -backend-config=key=scones/$(TARGET)/$(1).tfstate,-backend-config=path=$(abspath $(BUILD))/$(1).tfstate) \
	  $(if $(wildcard $(TF_PLUGIN_DIR)),-plugin-dir=$(TF_PLUGIN_DIR)) \
	  || { cat $(BUILD)/terraform-$(1)-init.log; exit 1; }
endef

.PHONY: infra lambdas deploy outputs destroy tf-lint
infra: $(STAMP) $(STACK) ## apply terraform/base: buckets, roles, alert topic, registry group
	@$(MAKE) $(BUILD)/base.outputs.json

$(BUILD)/base.outputs.json: $(shell find terraform/base terraform/modules -name '*.tf' 2>/dev/null)
	$(call tf_init,base)
	@$(call tf,base) apply -input=false -auto-approve $(tf_vars) >$(BUILD)/terraform-base-apply.log \
	  || { cat $(BUILD)/terraform-base-apply.log; exit 1; }
	@$(call tf,base) output -json > $@.tmp && mv $@.tmp $@
	@$(PY) -m settings.tfvars $@ > $(BUILD)/base.tfvars.json

lambdas: $(STAMP) ## zip the Lambda handlers into build/lambdas.zip
	@$(PY) -m lambdas.package build/lambdas.zip

deploy: $(STAMP) $(STACK) infra lambdas ## terraform apply of the endpoint and workflow; prints their names
	@$(PY) -m train.registry latest-approved --tfvars $(BUILD)/model.tfvars.json
	$(call tf_init,serving)
	@$(call tf,serving) apply -input=false -auto-approve $(tf_vars) \
	  -var-file=$(abspath $(BUILD))/base.tfvars.json -var-file=$(abspath $(BUILD))/model.tfvars.json \
	  -var 'lambda_zip=$(abspath build/lambdas.zip)'
	@$(call tf,serving) output -json > $(BUILD)/serving.outputs.json.tmp
	@mv $(BUILD)/serving.outputs.json.tmp $(BUILD)/serving.outputs.json
	@$(PY) -m settings.outputs serving endpoint_name state_machine_arn

outputs: $(STAMP) ## the Terraform outputs of the current TARGET as JSON
	@$(PY) -m settings.outputs --json

destroy: $(STAMP) $(STACK) ## terraform destroy both roots, then check nothing is left
	@if [ -f $(BUILD)/serving.tfstate ] || [ -n '$(TF_BACKEND_CONFIG)' ]; then \
	  $(call tf,serving) destroy -input=false -auto-approve $(tf_vars) \
	    -var-file=$(abspath $(BUILD))/base.tfvars.json -var-file=$(abspath $(BUILD))/model.tfvars.json \
	    -var 'lambda_zip=$(abspath build/lambdas.zip)'; fi
	@if [ -f $(BUILD)/base.tfstate ] || [ -n '$(TF_BACKEND_CONFIG)' ]; then \
	  $(call tf,base) destroy -input=false -auto-approve $(tf_vars); fi
	@rm -f $(BUILD)/*.outputs.json $(BUILD)/*.tfvars.json
	@$(PY) -m settings.leftovers

tf-lint: ## terraform fmt -check, validate (both roots) and checkov, offline
	terraform fmt -check -recursive terraform
	$(call tf_init,base)
	$(call tf,base) validate
	$(call tf_init,serving)
	$(call tf,serving) validate
	$(CHECKOV) --directory terraform --quiet --compact --skip-download --framework terraform

CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
$(CHECKOV): requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@
tf-lint: $(CHECKOV)

##@ Quality
.PHONY: test lint fmt bench bench-stack bench-train bench-loadtest
test: $(STAMP) ## run the test suite (starts the local stacks it needs)
	$(PY) -m pytest -q

lint: $(STAMP) ## black --check, terraform fmt -check and validate, checkov
	$(VENV)/bin/black --check python tests bench
	$(MAKE) tf-lint

fmt: $(STAMP) ## format Python (black) and HCL (terraform fmt)
	$(VENV)/bin/black python tests bench
	terraform fmt -recursive terraform

bench: bench-stack bench-train bench-loadtest ## run every benchmark and print its figures

bench-stack: $(STAMP) ## local stack: startup, InvokeEndpoint and execution latency/throughput
	$(PY) bench/bench_stack.py

bench-train: $(STAMP) ## default training recipe on CIFAR_TARBALL (or the dev subset): accuracy, time
	$(PY) bench/bench_train.py $(if $(CIFAR_TARBALL),--tarball '$(CIFAR_TARBALL)')

bench-loadtest: $(STAMP) ## local stack: 60 s stream at 50/s and a 1000-image batch
	$(PY) bench/bench_loadtest.py

.PHONY: clean
clean: ## remove build outputs (keeps data/, models/, reports/ and .venv)
	rm -rf build
