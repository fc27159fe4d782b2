"""The call queues' TwiML: ``<Enqueue>`` (a caller waiting) and ``<Dial><Queue>`` (taking
one)."""
