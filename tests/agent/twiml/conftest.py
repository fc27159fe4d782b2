"""All the TwiML agent's async tests run on a virtual clock
(:mod:`tests.toolkit.virtual_time`): the timing rules they check are judged on the clock
the product schedules by, so a busy or stalled machine changes no verdict."""

from tests.toolkit.virtual_time import (  # noqa: F401 - pytest finds fixtures by name
    async_tests_on_the_virtual_clock,
)
