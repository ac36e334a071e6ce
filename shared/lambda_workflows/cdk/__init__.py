"""Deploy a workflow app with the AWS CDK (`pip install lambda-workflows[cdk]`).

```python
from lambda_workflows.cdk import WorkflowEngine
WorkflowEngine(stack, "Workflows")   # reads [tool.lambda-workflows] app
```
"""

from lambda_workflows.cdk.engine import WorkflowEngine, WorkflowEngineProps

__all__ = ["WorkflowEngine", "WorkflowEngineProps"]
