"""The development harness: DynamoDB Local, the template-driven local API and development tokens."""
