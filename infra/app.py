"""CDK app entry point (`cdk synth` / `cdk deploy` from the repository root).

The stacks (DynamoDB journal, SQS queue + DLQ, Scheduler group and role, S3 bucket,
worker / api / cron / sweeper Lambdas, API Gateway) are the next issue's work. Until
they land this entry point refuses to synthesize rather than deploy something partial.
"""

import sys

if __name__ == "__main__":
    sys.exit(
        "lambda-workflows: the CDK stacks are not built yet; see docs/status.md. "
        "Use `./scripts/dev` to run the app locally on moto."
    )
