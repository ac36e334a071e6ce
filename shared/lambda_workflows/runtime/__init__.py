"""The replay runtime: executes `run()` against the journal, one invocation at a time."""
