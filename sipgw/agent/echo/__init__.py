"""The echo agent: the caller played back after a delay, the line check (``--agent echo``)."""
