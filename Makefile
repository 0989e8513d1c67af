# Scones Unlimited: bicycle vs motorcycle classification on SageMaker, Lambda and Step Functions.
# `make help` lists every target and variable. TARGET=local (default) runs against the local AWS
# stack on 127.0.0.1; TARGET=aws runs the very same code against the account of your credentials.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
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
HYPERPARAMETERS ?=## extra training hyperparameters, e.g. `epochs=5 batch-size=64` (also for `make bench-train`)
SEEDS ?=## `make bench-train`: seeds to train with, comma separated (e.g. 0,1,2,3), then the accuracies' spread; empty = the recipe's seed
IMAGE ?=## image file for `make predict`
PACKAGE ?=## model package ARN for `make approve` (printed by `make train`)
EXECUTION ?=## execution ARN for `make graph` to colour by state status
ACK ?= 0## 1 = `make alerts` deletes the alerts it prints (0 leaves them in the queue)
MODE ?= burst## load test mode: burst, stream or batch
N ?= 200## load test: executions (burst) or images (batch)
RATE ?= 20## load test stream: executions per second
DURATION ?= 60## load test stream: seconds
CONCURRENCY ?= 16## load test: burst: executions in flight at once; stream: StartExecution calls in parallel
DRIFT ?= 0## load test: 1 = part of the traffic is altered images (drift for the report)
FAULTS ?= 0## load test, local only: fraction of endpoint calls that fail or stall
MAX_ERROR_RATE ?= 0.2## load test exits non-zero above this error rate
MAX_EXECUTIONS ?= 5000## load test: hard cap on images sent through the workflow (executions, or a batch's images)
YES ?= 0## 1 = skip the confirmations of TARGET=aws (terraform applies, destroys, load tests)
SINCE ?=## report: first inference time to include (ISO 8601, UTC unless an offset is given); empty = all
UNTIL ?=## report: inference time to stop at, excluded (ISO 8601); empty = up to the last record
TF_PLUGIN_DIR ?= /opt/tf-plugins## offline Terraform provider directory; the registry is used where it lacks the pinned provider
TF_BACKEND_CONFIG ?=## TARGET=aws: file of S3 backend settings for remote Terraform state (optional)
TF_VARS_FILE ?=## .tfvars(.json) file of Terraform variables for both roots, e.g. alert_email, instance_type (see terraform/*/variables.tf)
LOG_LEVEL ?= WARNING## log verbosity of the Python tools (DEBUG, INFO, WARNING)

export TARGET AWS_REGION LOG_LEVEL
export AWS_DEFAULT_REGION := $(AWS_REGION)

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

ifeq ($(TARGET),local)
BUILD := build/local
# The local stack: dummy credentials, loopback endpoint. Nothing here can reach real AWS.
export AWS_ENDPOINT_URL := http://127.0.0.1:$(LOCAL_PORT)
export AWS_ACCESS_KEY_ID := test
export AWS_SECRET_ACCESS_KEY := test
unexport AWS_PROFILE AWS_SESSION_TOKEN
STACK := stack
else ifeq ($(TARGET),aws)
# State and outputs per region: another AWS_REGION must not plan against this region's state.
BUILD := build/aws/$(AWS_REGION)
ifneq ($(wildcard build/aws/*.tfstate),)
$(error build/aws/*.tfstate is the layout before state was kept per region: move those files to build/aws/<their region>/)
endif
# Real AWS endpoints only: an AWS_ENDPOINT_URL left in the shell (e.g. from the local stack)
# would send some calls elsewhere.
ifdef AWS_ENDPOINT_URL
$(warning TARGET=aws ignores AWS_ENDPOINT_URL=$(AWS_ENDPOINT_URL))
unexport AWS_ENDPOINT_URL
endif
STACK :=
else
$(error TARGET must be `local` or `aws`, not `$(TARGET)`)
endif
ifneq ($(TF_VARS_FILE),)
ifeq ($(wildcard $(TF_VARS_FILE)),)
$(error TF_VARS_FILE=$(TF_VARS_FILE) does not exist)
endif
endif
ifneq ($(TF_BACKEND_CONFIG),)
ifneq ($(TARGET),aws)
$(error TF_BACKEND_CONFIG is for TARGET=aws: the local stack's state lives in build/local)
endif
endif

##@ Getting started
.PHONY: help
help: ## show this help: every target and every variable
	@awk 'BEGIN {FS = ":.*## "} \
	  /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5); next} \
	  /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-24s\033[0m %s\n", $$1, $$2; next} \
	  /^[A-Z_]+ \?=.*## / {split($$0, a, "## "); split(a[1], v, / *[?]= */); \
	     printf "  \033[33m%-24s\033[0m %s (default: %s)\n", v[1], a[2], (v[2] == "" ? "empty" : v[2])}' \
	  $(MAKEFILE_LIST)

.PHONY: setup
setup: $(STAMP) ## create .venv and install the pinned dependencies

$(STAMP): requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

DEMO_N ?= 100## executions of the demo's load test (a burst, with drift)
DEMO_APPROVAL_THRESHOLD ?= 0.85## approval threshold of the demo's training (the default recipe scores 0.91-0.96 on the dev subset, varying with seed and threads)
.PHONY: demo
demo: $(STAMP) ## the whole pipeline locally: data, train, deploy, predict, load test, report
	@[ "$(TARGET)" = local ] || { echo "error: make demo runs on the local stack only (TARGET=local)" >&2; exit 2; }
	@$(MAKE) up
	@$(MAKE) data
	@$(MAKE) train APPROVAL_THRESHOLD=$(DEMO_APPROVAL_THRESHOLD)
	@$(MAKE) deploy
	@$(MAKE) predict IMAGE="$$(find data/processed/test -name '*.png' | sort | head -n 1)"
	@$(MAKE) loadtest MODE=burst N=$(DEMO_N) DRIFT=1
	@$(MAKE) report
	@$(PY) -m demo

##@ Local AWS stack
.PHONY: up down status stack alerts
up: $(STAMP) ## start the local AWS stack on 127.0.0.1:LOCAL_PORT (no-op when running)
	@$(PY) -m local_aws up --port $(LOCAL_PORT)

down: $(STAMP) ## stop the local AWS stack (flushes data capture first)
	@$(PY) -m local_aws down --port $(LOCAL_PORT)

status: $(STAMP) ## whether the local stack runs and what is deployed
	@$(PY) -m local_aws status --port $(LOCAL_PORT)

stack: $(STAMP)
	@$(PY) -m local_aws up --port $(LOCAL_PORT) --quiet

alerts: $(STAMP) $(STACK) ## print the alerts published to the SNS alert topic (ACK=1 deletes them)
	@$(PY) -m monitor.alerts $(if $(filter 1,$(ACK)),--ack)

##@ Pipeline
.PHONY: data train approve predict graph loadtest report
data: $(STAMP) infra ## ETL: CIFAR-100 -> data/processed (PNG, .lst, labels.json) -> data bucket
	@$(PY) -m etl --classes '$(CLASSES)' $(if $(CIFAR_TARBALL),--tarball '$(CIFAR_TARBALL)')

train: $(STAMP) infra ## train, evaluate on the test split, register the model package
	@$(PY) -m train --approval-threshold $(APPROVAL_THRESHOLD) \
	  --instance-type $(TRAIN_INSTANCE_TYPE) $(if $(filter 1,$(TRAIN_SPOT)),--spot) \
	  $(foreach hp,$(HYPERPARAMETERS),--hyperparameter $(hp))

approve: $(STAMP) $(STACK) ## approve the model package PACKAGE=arn by hand (one left pending by make train)
	@$(PY) -m train.registry approve '$(PACKAGE)'

predict: $(STAMP) $(STACK) ## classify IMAGE=path with the deployed endpoint
	@$(PY) -m train.predict '$(IMAGE)'

graph: $(STAMP) $(if $(EXECUTION),$(STACK)) ## render the state machines to reports/workflow/ (EXECUTION=arn colours one run)
	@$(PY) -m monitor.graph $(if $(EXECUTION),--execution '$(EXECUTION)')

loadtest: $(STAMP) $(STACK) ## drive the deployed workflow (MODE, N, RATE, DURATION, DRIFT, FAULTS)
	@$(PY) -m loadtest --mode $(MODE) --n $(N) --rate $(RATE) --duration $(DURATION) \
	  --concurrency $(CONCURRENCY) --drift $(DRIFT) --faults $(FAULTS) \
	  --max-error-rate $(MAX_ERROR_RATE) --max-executions $(MAX_EXECUTIONS) \
	  $(if $(filter 1,$(YES)),--yes)

report: $(STAMP) $(STACK) ## monitoring report from data capture -> reports/<time>/report.html (SINCE, UNTIL)
	@$(PY) -m monitor.report $(if $(SINCE),--since '$(SINCE)') $(if $(UNTIL),--until '$(UNTIL)')

##@ Infrastructure (Terraform)
# Two roots: terraform/base (key, buckets, roles, alert topic and queue, model registry group;
# `make data` and `make train` need it) and terraform/serving (model, endpoint, Lambdas, state
# machines, alert rule; `make deploy`). State and outputs live under build/local/ (a fresh local
# stack starts from an empty one) or build/aws/<AWS_REGION>/; TF_BACKEND_CONFIG=FILE keeps
# TARGET=aws state in S3 instead: a gitignored terraform/<root>/backend_override.tf swaps the local
# backend for an "s3" one configured by FILE (bucket, region, ...; the key is
# scones/aws/<AWS_REGION>/<root>.tfstate).
# Every apply goes through a saved plan: settings.tfplan prints it (TARGET=aws: with the
# endpoint's hourly price, then asks unless YES=1) and exactly that plan is applied.
TF_BACKEND_FILE = terraform/$(1)/backend_override.tf
tf = TF_DATA_DIR=$(abspath $(BUILD))/terraform/$(1) terraform -chdir=terraform/$(1)
tf_vars = -var 'aws_region=$(AWS_REGION)' $(if $(filter local,$(TARGET)),-var 'local_endpoint=$(AWS_ENDPOINT_URL)') \
  $(if $(TF_VARS_FILE),-var-file='$(abspath $(TF_VARS_FILE))')
serving_vars = -var-file=$(abspath $(BUILD))/base.tfvars.json -var-file=$(abspath $(BUILD))/model.tfvars.json \
  -var 'lambda_zip=$(abspath build/lambdas.zip)'

# The provider version pinned in versions.tf: TF_PLUGIN_DIR is used only when it holds that one.
TF_AWS_VERSION := $(shell sed -n 's/^ *version *= *"\([0-9.]*\)".*/\1/p' terraform/base/versions.tf)
tf_plugin_args = $(if $(wildcard $(TF_PLUGIN_DIR)/registry.terraform.io/hashicorp/aws/$(TF_AWS_VERSION)),-plugin-dir=$(TF_PLUGIN_DIR))

# $(call tf_init,ROOT): one shell command; offline with TF_PLUGIN_DIR, from the registry without.
tf_init = mkdir -p $(BUILD) && \
  if [ -n '$(TF_BACKEND_CONFIG)' ]; then printf 'terraform {\n  backend "s3" {}\n}\n' > $(call TF_BACKEND_FILE,$(1)); \
  else rm -f $(call TF_BACKEND_FILE,$(1)); fi && \
  { $(call tf,$(1)) init -input=false -no-color -reconfigure \
    $(if $(TF_BACKEND_CONFIG),-backend-config='$(abspath $(TF_BACKEND_CONFIG))' -backend-config=key=scones/aws/$(AWS_REGION)/$(1).tfstate,-backend-config=path=$(abspath $(BUILD))/$(1).tfstate) \
    $(tf_plugin_args) \
    >$(BUILD)/terraform-$(1)-init.log 2>&1 || { cat $(BUILD)/terraform-$(1)-init.log; exit 1; }; }

# $(call tf_has_resources,ROOT): a shell condition (initialises ROOT): its state lists resources.
tf_has_resources = { { [ -n '$(TF_BACKEND_CONFIG)' ] || [ -s $(BUILD)/$(1).tfstate ]; } && \
  $(call tf_init,$(1)) && [ -n "$$($(call tf,$(1)) state list)" ]; }

# $(call tf_plan_files,ROOT): the saved plan of ROOT and its JSON form.
tf_plan_files = $(BUILD)/$(1).tfplan $(BUILD)/$(1).tfplan.json

# $(call tf_plan,ROOT,VARS): one shell command: save ROOT's plan (VARS may hold -destroy) to
# $(BUILD)/ROOT.tfplan and its JSON form next to it.
tf_plan = { $(call tf,$(1)) plan -input=false -no-color -out=$(abspath $(BUILD))/$(1).tfplan $(2) \
    >$(BUILD)/terraform-$(1)-plan.log 2>&1 || { cat $(BUILD)/terraform-$(1)-plan.log; exit 1; }; } && \
  $(call tf,$(1)) show -json $(abspath $(BUILD))/$(1).tfplan > $(BUILD)/$(1).tfplan.json

# $(call tf_apply_plan,ROOT,ACTION): one shell command: apply the saved plan of ROOT, then delete it.
tf_apply_plan = { $(call tf,$(1)) apply -input=false -no-color $(abspath $(BUILD))/$(1).tfplan \
    >$(BUILD)/terraform-$(1)-$(2).log 2>&1 || { cat $(BUILD)/terraform-$(1)-$(2).log; exit 1; }; } && \
  rm -f $(call tf_plan_files,$(1))

# settings.tfplan's options: on aws it prints prices and asks, unless YES=1.
tfplan_flags = $(if $(filter aws,$(TARGET)),--aws $(if $(filter 1,$(YES)),--yes))

# $(call tf_apply,ROOT,VARS): plan to a file, print it (and confirm on aws), apply that plan.
define tf_apply
	@$(call tf_plan,$(1),$(2))
	@$(PY) -m settings.tfplan --plan $(1) $(BUILD)/$(1).tfplan.json $(tfplan_flags) \
	  || { rm -f $(call tf_plan_files,$(1)); exit 2; }
	@$(call tf_apply_plan,$(1),apply)
	@$(call tf,$(1)) output -json > $(BUILD)/$(1).outputs.json.tmp
	@mv $(BUILD)/$(1).outputs.json.tmp $(BUILD)/$(1).outputs.json
endef

.PHONY: infra lambdas deploy outputs destroy tf-lint
infra: $(STAMP) $(STACK) ## apply terraform/base: key, buckets, roles, alert topic and queue, registry group
	@$(MAKE) $(BUILD)/base.outputs.json

# base is applied again when its files, its variables or the contents of TF_VARS_FILE change.
$(BUILD)/base.outputs.json: $(shell find terraform/base terraform/modules -name '*.tf' 2>/dev/null) \
    $(BUILD)/base.vars $(TF_VARS_FILE)
	@$(call tf_init,base)
	$(call tf_apply,base,$(tf_vars))
	@$(PY) -m settings.tfvars $@ > $(BUILD)/base.tfvars.json.tmp
	@mv $(BUILD)/base.tfvars.json.tmp $(BUILD)/base.tfvars.json

# The variables base was applied with: out of date (so base is applied again) only when they
# differ from this run's. Read here, written by the rule.
.PHONY: FORCE
ifneq ($(file <$(BUILD)/base.vars),$(strip $(tf_vars)))
$(BUILD)/base.vars: FORCE
endif
$(BUILD)/base.vars:
	@mkdir -p $(BUILD) && printf '%s\n' "$(subst ",\",$(strip $(tf_vars)))" > $@

lambdas: $(STAMP) ## zip the Lambda handlers into build/lambdas.zip
	@$(PY) -m lambdas.package build/lambdas.zip

deploy: $(STAMP) $(STACK) infra lambdas ## terraform apply of model, endpoint and workflow; prints their names
	@$(PY) -m train.registry latest-approved --tfvars $(BUILD)/model.tfvars.json
	@$(call tf_init,serving)
	$(call tf_apply,serving,$(tf_vars) $(serving_vars))
	@$(PY) -m settings serving endpoint_name state_machine_arn batch_state_machine_arn

outputs: $(STAMP) ## the Terraform outputs of the current TARGET as JSON
	@$(PY) -m settings --json

# Serving first (it uses the base resources), then the registry's model packages (SageMaker keeps
# a group that holds any), then base. The base tfvars are rebuilt from the base state, so a
# destroy works wherever the state is; a root whose state lists nothing is left alone. Both
# roots' destroy plans are saved and printed first, with one question on aws (YES=1 skips it),
# and exactly those plans are applied. The check for leftovers looks for base's name_prefix
# (a TF_VARS_FILE may have changed it; without base's outputs, as after an earlier destroy, the
# default one).
destroy: $(STAMP) $(STACK) lambdas ## terraform destroy both roots (TARGET=aws asks first), then check nothing is left
	@rm -f $(call tf_plan_files,serving) $(call tf_plan_files,base)
	@if $(call tf_has_resources,base); then \
	  $(call tf,base) output -json > $(BUILD)/base.outputs.json.tmp && \
	  mv $(BUILD)/base.outputs.json.tmp $(BUILD)/base.outputs.json && \
	  $(PY) -m settings.tfvars $(BUILD)/base.outputs.json > $(BUILD)/base.tfvars.json.tmp && \
	  mv $(BUILD)/base.tfvars.json.tmp $(BUILD)/base.tfvars.json; fi
	@plans=; \
	if $(call tf_has_resources,serving); then \
	  if [ ! -f $(BUILD)/model.tfvars.json ]; then \
	    echo "error: $(BUILD)/model.tfvars.json (written by make deploy) is missing" >&2; exit 2; fi; \
	  $(call tf_plan,serving,-destroy $(tf_vars) $(serving_vars)) && \
	  plans="$$plans --plan serving $(BUILD)/serving.tfplan.json"; fi; \
	if $(call tf_has_resources,base); then \
	  $(call tf_plan,base,-destroy $(tf_vars)) && plans="$$plans --plan base $(BUILD)/base.tfplan.json"; fi; \
	if [ -n "$$plans" ]; then $(PY) -m settings.tfplan $$plans $(tfplan_flags) || { \
	  rm -f $(call tf_plan_files,serving) $(call tf_plan_files,base); \
	  exit 2; }; fi
	@if [ -f $(BUILD)/serving.tfplan ]; then $(call tf_apply_plan,serving,destroy) && \
	  echo "terraform/serving: destroyed"; fi
	@if [ -f $(BUILD)/base.tfplan ]; then $(PY) -m settings.registry_purge && \
	  $(call tf_apply_plan,base,destroy) && echo "terraform/base: destroyed"; fi
	@prefix="$$({ $(PY) -m settings base name_prefix 2>/dev/null || true; } | sed -n 's/^name_prefix: //p')"; \
	  rm -f $(BUILD)/*.outputs.json $(BUILD)/*.tfvars.json && \
	  $(PY) -m settings.leftovers $${prefix:+--prefix "$$prefix"}

# Lint needs neither state nor AWS: its own data directory, no backend.
tf_lint = TF_DATA_DIR=$(abspath build/lint)/$(1) terraform -chdir=terraform/$(1)
tf-lint: ## terraform fmt -check, validate (both roots) and checkov, offline
	terraform fmt -check -recursive terraform
	@for root in base serving; do \
	  $(call tf_lint,$$root) init -input=false -backend=false $(tf_plugin_args) >/dev/null && \
	  $(call tf_lint,$$root) validate -no-color | sed -n "/./s|^|terraform/$$root: |p" || exit 1; done
	$(CHECKOV) --directory terraform --quiet --compact --skip-download --framework terraform

CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
$(CHECKOV): requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@
tf-lint: $(CHECKOV)

##@ Quality
.PHONY: test lint fmt bench bench-stack bench-train bench-loadtest bench-report
test: $(STAMP) ## run the test suite (starts the local stacks it needs)
	$(PY) -m pytest -q

lint: $(STAMP) ## black --check, terraform fmt -check and validate, checkov
	$(VENV)/bin/black --check python tests bench
	$(MAKE) tf-lint

fmt: $(STAMP) ## format Python (black) and HCL (terraform fmt)
	$(VENV)/bin/black python tests bench
	terraform fmt -recursive terraform

bench: bench-stack bench-train bench-loadtest bench-report ## run every benchmark and print its figures

bench-stack: $(STAMP) ## local stack: startup, InvokeEndpoint and execution latency/throughput
	$(PY) bench/bench_stack.py

bench-train: $(STAMP) ## default training recipe on CIFAR_TARBALL (or the dev subset): accuracy, time
	$(PY) bench/bench_train.py $(if $(CIFAR_TARBALL),--tarball '$(CIFAR_TARBALL)') \
		$(if $(SEEDS),--seeds '$(SEEDS)') $(foreach h,$(HYPERPARAMETERS),--hyperparameter '$(h)')

bench-loadtest: $(STAMP) ## local stack: 60 s stream at 50/s and a 1000-image batch
	$(PY) bench/bench_loadtest.py

bench-report: $(STAMP) ## monitoring report on 100k synthetic capture records in a moto S3 server
	$(PY) bench/bench_report.py

.PHONY: clean
clean: ## stop the local stack, remove local build outputs (keeps build/aws/ state, data/, models/, reports/, .venv)
	@if [ -x $(PY) ]; then $(PY) -m local_aws down --port $(LOCAL_PORT); fi
	rm -rf build/local build/lint build/lambdas.zip
