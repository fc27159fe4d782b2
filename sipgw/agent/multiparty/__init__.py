"""Calls of one gateway together: conference rooms, who speaks in them, and call queues."""
