"""pgshift's migration linter: the rule catalogue, the facts it rests on, the checks."""
