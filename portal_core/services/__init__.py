"""The use cases: the only code that writes. Each takes the session and the acting user."""
