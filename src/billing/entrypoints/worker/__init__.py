"""The Faust worker: agents that hand each record to a context's handler and commit after it returns."""
