"""The migration engine: the policy of every command, applying and reverting, states and events."""
