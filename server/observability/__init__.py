"""What an operator sees of a node: logs, metrics and health."""
