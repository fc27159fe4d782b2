"""The TwiML verbs' handling, one family a module, each given the interpreter's
:class:`~sipgw.agent.twiml.verbs.context.VerbContext` (the interpreter itself is
:mod:`sipgw.agent.twiml.agent`)."""
