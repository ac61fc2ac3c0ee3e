"""The long-running process: task group, signals, grace, run state, start-up, reload."""
