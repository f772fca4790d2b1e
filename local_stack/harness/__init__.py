"""Not emulation: what runs the stack and drives it (the stack as a child process, the load
generator)."""
