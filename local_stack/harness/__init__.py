"""Not emulation: the stack as a child process, the load generator, and a periodic worker thread."""
