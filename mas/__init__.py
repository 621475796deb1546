"""MAS: the operator CLI (`mas start`, `mas keys`, `mas db`)."""
