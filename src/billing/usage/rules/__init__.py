"""Pure usage rules: an event's rated units and amount under its plan version (no I/O)."""
