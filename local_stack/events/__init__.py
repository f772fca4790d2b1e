"""EventBridge: the template's schedules."""
