"""Wire-level fakes of the hosted services (fal.ai, OpenAI) and an in-memory keyring, for tests."""
