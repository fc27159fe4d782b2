"""Getting a placed call through a phone menu (IVR) to its goal (``docs/ivr.md``).

:class:`MenuNavigator` holds the rules (sans-IO), :class:`MenuDecider` asks the model
(or the rules of :mod:`sipgw.agent.ivr.menu`) what to do about a menu's words;
the assistant carries it out (``sipgw.agent.assistant.navigating``).
"""

from sipgw.agent.ivr.decider import MenuDecider, parse_decision
from sipgw.agent.ivr.goal import MAX_GOAL, IvrCall, check_goal
from sipgw.agent.ivr.menu import MenuOption, goal_words, menu_options, rule_decision
from sipgw.agent.ivr.navigator import (
    DecisionWanted,
    MenuNavigator,
    NavigationEnded,
    NavigatorAction,
    NavigatorConfig,
    NavigatorState,
    SayWords,
    SendDigits,
    Step,
)
from sipgw.agent.ivr.steps import (
    Decision,
    Outcome,
    Press,
    Reached,
    Say,
    Stuck,
    Voicemail,
    Wait,
)

__all__ = [
    "MAX_GOAL",
    "Decision",
    "DecisionWanted",
    "IvrCall",
    "MenuDecider",
    "MenuNavigator",
    "MenuOption",
    "NavigationEnded",
    "NavigatorAction",
    "NavigatorConfig",
    "NavigatorState",
    "Outcome",
    "Press",
    "Reached",
    "Say",
    "SayWords",
    "SendDigits",
    "Step",
    "Stuck",
    "Voicemail",
    "Wait",
    "check_goal",
    "goal_words",
    "menu_options",
    "parse_decision",
    "rule_decision",
]
