"""One router per area: queues and tasks, calls (caller verification), the account view and disputes."""
