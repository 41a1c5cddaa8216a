"""Faust agents: thin loops that hand each record to a processor and let Faust commit after it returns."""
