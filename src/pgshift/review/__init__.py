"""Review before production: plans, lint over files, the CI gate, scratch databases, verify."""
