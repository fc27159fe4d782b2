"""The agent's live replies, what a barge-in says was heard, and late audio of ended replies."""

from __future__ import annotations

from sipgw.agent.playout import Playout
from sipgw.agent.s2s.replies import Reply, Speaking, heard_prefix


def test_heard_prefix_is_the_played_share_cut_back_to_whole_words() -> None:
    text = "Your order has shipped and arrives tomorrow."
    assert heard_prefix(text, 0, 1000) == ""
    assert heard_prefix(text, 1000, 1000) == text
    assert heard_prefix(text, 500, 1000) == "Your order has shipped"  # 22 chars: a word end
    assert heard_prefix(text, 450, 1000) == "Your order has"  # "shipp" was half said
    assert heard_prefix(text, 100, 0) == ""  # no audio: nothing heard
    assert heard_prefix("Supercalifragilistic", 500, 1000) == ""


def reply(reply_id: str, started_at: float = 0.0) -> Reply:
    return Reply(reply_id, turn=1, started_at=started_at, speech_end_at=None)


def test_a_reply_is_live_until_done_and_played_or_cut() -> None:
    playout = Playout()
    playout.held = False
    speaking = Speaking(playout)
    first, second = reply("r1", 1.0), reply("r2", 2.0)
    speaking.add(first)
    speaking.add(second)
    assert speaking.active_reply_started_at() == 1.0  # replying since the oldest
    playout.push_audio("r1", bytes(320))
    first.done = True
    playout.finish("r1")
    assert speaking.is_live(first)  # done, but two frames still to play
    playout.next_frame(0.0)
    playout.next_frame(0.02)
    speaking.prune()
    assert speaking.live == [second] and speaking.gone("r1")
    second.heard = ""  # a barge-in cut it
    assert not speaking.is_live(second)
    speaking.prune()
    assert speaking.live == [] and speaking.active_reply_started_at() is None


def test_ended_reply_ids_are_remembered_but_bounded() -> None:
    speaking = Speaking(Playout())
    for n in range(100):
        speaking.forget(f"r{n}")
    assert speaking.gone("r99") and not speaking.gone("r0")
