"""One module per client API contract: its request models, its success bodies and who may call it."""
