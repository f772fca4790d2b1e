"""Lambda: execution environments, the worker inside one, the event source mapping and its filters."""
