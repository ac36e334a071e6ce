"""The journal on DynamoDB: table schema, item encoding and the journal itself."""

from lambda_workflows.aws.dynamodb.journal import DynamoDBJournal
from lambda_workflows.aws.dynamodb.schema import table_definition

__all__ = ["DynamoDBJournal", "table_definition"]
