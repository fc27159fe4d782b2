"""sipgw: a SIP/RTP gateway for AI voice agents."""

__version__ = "0.1.0"
