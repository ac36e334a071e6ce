"""CDK app entry point (`cdk synth` / `cdk deploy` from the repository root): the
example app of `functions/`, deployed by the `WorkflowEngine` construct, with cdk-nag's
AwsSolutions checks failing the synth on any unacknowledged finding. The functions' code
is bundled locally without Docker (docs/deploy.md)."""

from __future__ import annotations

import os
from pathlib import Path

# Node 20 is what the README asks for; jsii runs on it and would print a banner per call.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from lambda_workflows.cdk import WorkflowEngine

ROOT = Path(__file__).resolve().parents[1]


def build(app: App) -> Stack:
    """The example app's stack."""
    stack = Stack(app, "LambdaWorkflows")
    WorkflowEngine(stack, "Engine", project_dir=ROOT)
    return stack


if __name__ == "__main__":
    cdk_app = App()
    Validations.of(cdk_app).add_plugins(AwsSolutionsChecks(cdk_app))  # findings fail the synth
    build(cdk_app)
    cdk_app.synth()
