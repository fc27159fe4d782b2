"""``<Dial>``'s engines: the bridged second leg (one target, or all at once), the rules of
its outcome, the legs' status callbacks, screening and answering-machine detection, the
called party's REFER (``referUrl``) and the bridge's audio format."""
