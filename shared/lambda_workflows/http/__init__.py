"""The instance API over HTTP: a Powertools resolver (API Gateway REST proxy events),
its pydantic models and OpenAPI schema, and a WSGI adapter for local serving."""
