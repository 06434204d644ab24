"""Operations tooling (`push-registry`): bulk import and operator commands. Never part of the Lambda layer."""
