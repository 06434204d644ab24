"""The push-token registry: domain rules, storage, auth and response dialects shared by every endpoint."""
