"""Suite-wide fixtures and hooks.

Hypothesis profiles: CI runs are deterministic and free of timing flakes.
``ci`` (the default): the examples are derived from each test's source
(``derandomize``), so a run on the shared, slow CI machine is the same every
time, and there is no per-example deadline. ``long``: random examples, ten
times as many, for a local hunt (``HYPOTHESIS_PROFILE=long pytest ...``).

Real peers one at a time in each of four lanes: ``scripts/test`` runs the suite on seven
xdist workers with ``--dist loadgroup``; the real-peer tests (:func:`in_peers_group`) are four
work units (:func:`peer_lane`), so four workers run them one after another while the other
three run the rest (docs/testing.md, "How the suite runs"). The units are made by the
scheduler from node ids (:class:`PeersScheduling`), not by ``xdist_group`` marks: with pytest
9.2 xdist 3.8 cannot attach a mark's group to a node id and loses it silently
(pytest-dev/pytest-xdist#1386).

``--quick`` (``scripts/test --quick``) runs the sans-IO and unit tests alone
(:data:`QUICK_TESTS`).

The secret scan at the end of the run: every API key and SIP password the tests
configure is a canary (:mod:`tests.toolkit.canaries`);
:mod:`tests.toolkit.canary_scan` logs the whole run and fails it if a canary
appears in any log or record it wrote.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from sipgw.app.operations import collector
from sipgw.foundation.settings.state import STATE_DIR_ENV
from tests.toolkit.canary_scan import (  # noqa: F401 - pytest finds hooks and fixtures by name
    canary_scan_basetemp,
    pytest_configure,
    pytest_sessionfinish,
    pytest_testnodedown,
    pytest_unconfigure,
)
from tests.toolkit.crashed_workers import NoRerunOnCrash
from tests.toolkit.engines import (  # noqa: F401 - pytest finds fixtures by name
    backing,
    postgres_server,
)
from tests.toolkit.run_costs import LaneCosts, phase_cost, phase_start
from tests.toolkit.tracebacks import tolerate_frames_without_a_line
from tests.toolkit.virtual_time import virtual_clock  # noqa: F401 - a fixture, found by name

tolerate_frames_without_a_line()

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The state directory of a gateway, a worker or a store no test placed (docs/testing.md): one
# of this process's, never the user's ~/.local/state/sipgw; a gateway of the harness keeps its
# state in its workdir (sipgw/app/evaluation/gateway_process.py).
os.environ.pop(STATE_DIR_ENV, None)
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="sipgw-test-state-")


INTEROP = Path(__file__).resolve().parent / "interop"
REAL_PEER_TESTS = (
    "tests/interop/",
    "tests/bench/test_smoke.py::test_capacity_sipp_driver",
    "tests/bench/test_smoke.py::test_capacity_compare",
    "tests/bench/test_fault_silence.py::test_fault_silence_bench_one_fault",
    # the legs bench calls from a headless Chromium too: beside four busy workers its browser
    # leg missed its script (twice in the whole suite after issue 39, never alone)
    "tests/bench/test_smoke.py::test_legs_compares_the_same_conversation_on_each_leg",
)
"""Node ids (prefixes) of the tests that start a real peer (baresip, linphonec, SIPp,
Kamailio, Asterisk, Chromium, dnsmasq): they are all marked ``interop``."""
BESIDE_PEERS = (
    "tests/interop/test_eval_harness.py",
    "tests/interop/test_twilio_assistant.py",
    "tests/interop/test_compose_cluster.py",
    "tests/interop/test_pipecat_twilio.py",
    # a conformance runner of ours against an in-process gateway (about 29 s): it binds
    # addresses of its own (127.0.0.7-10), which no other test uses
    "tests/interop/test_rfc4475_sequence.py",
    # PostgreSQL (a server of its own, like the store tests beside it), in-process gateways,
    # our phones, the twilio SDK and the dashboard's Chromium: no SIP peer (about 27 s)
    "tests/interop/test_postgres_cluster.py",
    # sipgw call to a port where nothing listens, and to a number with no proxy: no peer
    "tests/interop/test_outbound_call.py::test_nothing_listening_is_unreachable",
    "tests/interop/test_outbound_call.py::test_bad_target_is_a_failed_call",
)
"""Interop tests with no peer program of their own (our ``Phone``, our runner or the Twilio
fake plays the far end, or nothing runs): under xdist they run beside the real-peer tests."""
LOAD_LANE = (
    # what loads the CPU on purpose (floods, overload, capacity, many guessing sources) or
    # measures packet timing on the wire, and the transports' and Kamailio's calls that ran
    # with them from the start: one after another, in their own lane
    "tests/interop/test_flood.py",
    "tests/interop/test_overload.py",
    "tests/interop/test_overload_at_start.py",
    "tests/bench/test_smoke.py::test_capacity_sipp_driver",
    "tests/bench/test_smoke.py::test_capacity_compare",
    "tests/interop/test_digest_guessing.py",
    "tests/interop/test_kamailio_hardening.py",
    "tests/interop/test_access_peers.py",
    "tests/interop/test_hold_gap.py",
    "tests/interop/test_rtcp_peers.py",
    "tests/interop/test_campaigns_peers.py",
    "tests/interop/test_campaigns_cluster.py",
    "tests/interop/test_metrics_peers.py",
    "tests/interop/test_workers.py",
    "tests/interop/test_dispatcher.py",
    "tests/interop/test_transports.py",
    "tests/interop/test_kamailio_transports.py",
    "tests/interop/test_srtp.py",
    # no reason of their own: they balance the lanes (about 95 s)
    "tests/interop/test_twiml_answer_on_bridge_peers.py",
    "tests/interop/test_twiml_hd_bridge_peers.py",
    "tests/interop/test_twiml_refer_peers.py",
    "tests/interop/test_dashboard_charts.py",
    "tests/interop/test_warm_transfer_peers.py::test_refer_with_replaces_between_linphones",
    "tests/interop/test_warm_transfer_peers.py::test_the_person_accepts_with_a_key",
    "tests/interop/test_warm_transfer_peers.py::test_the_persons_voicemail_brings_the_caller",
)
"""Real-peer tests of the first lane."""
NAMESPACE_LANE = (
    # what changes the test namespace itself (veths, routes, nft: the browsers' interfaces,
    # the NAT), Asterisk (one build, its own fixed directories) and dnsmasq: one after
    # another, in their own lane
    "tests/interop/test_browser_phone.py",
    "tests/interop/test_browser_turn.py",
    "tests/interop/test_dashboard_browser.py",
    "tests/interop/test_default_serve.py",
    "tests/interop/test_nat_call.py",
    "tests/interop/test_nat_harness.py",
    "tests/interop/test_asterisk.py",
    "tests/interop/test_warm_transfer_asterisk.py",
    "tests/interop/test_hold_asterisk.py",
    "tests/interop/test_ivr_asterisk.py",
    "tests/interop/test_hd_voice_asterisk.py",
    "tests/interop/test_dns_failover.py",
    # no reason of their own: they balance the lanes (about 300 s)
    "tests/interop/test_s2s_peers.py",
    "tests/interop/test_noise_peers.py",
    "tests/interop/test_outbound_call.py",
    "tests/interop/test_tracing_peers.py",
    "tests/interop/test_kamailio_toolkit.py",
    "tests/interop/test_webhooks_peers.py",
    "tests/interop/test_preemptive_peers.py",
    "tests/interop/test_twiml_screening_peers.py",
    "tests/interop/test_hold_music_sipp.py",
    "tests/interop/test_amd_peers.py",
    "tests/interop/test_twiml_conference_peers.py",
    "tests/interop/test_warm_transfer_peers.py::test_a_blind_transfer_the_target_refuses",
    "tests/interop/test_s2s_hd_voice_peers.py",
)
"""Real-peer tests of the second lane."""
THIRD_LANE = (
    "tests/interop/test_amd_assistant_peers.py",
    # beside the assistant's: both play a callee's 1000 Hz beep and read the wire for it, so
    # they must not run at once (an RTP capture sees the other test's beep)
    "tests/interop/test_amd_s2s_peers.py",
    "tests/interop/test_twiml_dial_peers.py",
    "tests/interop/test_twiml_peers.py",
    "tests/interop/test_assistant_peers.py",
    "tests/interop/test_registration.py",
    "tests/interop/test_callbacks_peers.py",
    "tests/bench/test_smoke.py::test_legs_compares_the_same_conversation_on_each_leg",
    "tests/interop/test_shared_trust.py",
    "tests/interop/test_hd_voice_peers.py",
    "tests/interop/test_handoff_peers.py",
    "tests/interop/test_warm_transfer_peers.py::test_the_person_accepts_by_saying_yes",
    "tests/interop/test_lines_peers.py",
    "tests/interop/test_outbound_kamailio.py",
    "tests/interop/test_twiml_transcription_peers.py",
    "tests/bench/test_fault_silence.py::test_fault_silence_bench_one_fault",
    "tests/interop/test_inband_dtmf_peers.py",
    "tests/interop/test_kamailio_floods.py",
)
"""Real-peer tests of the third lane; every other one runs in the fourth (the AI-service
faults, the carriers, the echo agent's calls, the declared tools, draining, ...). The four
lanes took about the same time each in the per-file runs behind docs/testing.md's figures."""
PEER_LANES = ("peers-a", "peers-b", "peers-c", "peers-d")
ONE_UNIT = (
    "tests/test_packaging.py",
    "tests/test_layers.py",
    "tests/test_shape.py",
    "tests/interop/test_postgres_cluster.py",
)
"""Modules whose tests share work too slow to do twice (the wheel, built and installed once
when scripts/test has not built it;
the import graph test_layers scans, 5 s alone and 30-36 s on each of four workers in a whole
run; the syntax trees test_shape reads, 3.5 s of CPU for sipgw/; the PostgreSQL server of
test_postgres_cluster): each module one work unit, on one worker."""
SLOWEST_OTHERS = (
    "tests/bench/test_amd.py::test_the_targets_on_the_held_out_split",
    "tests/test_layers.py",
    "tests/interop/test_eval_harness.py::test_the_shipped_scenarios_meet_their_goals",
    "tests/bench/test_amd.py::test_the_targets_on_a_fixed_subset_of_the_tuning_split",
    "tests/bench/test_turn_ends.py::test_the_bench_runs_both_and_sees_the_early_end",
    "tests/test_shape.py",
    "tests/bench/test_amd.py::test_amd_bench_tiny_run",
    "tests/bench/test_speech_to_speech.py::test_the_side_by_side_bench_runs_every_agent",
    "tests/toolkit/test_canary_scan.py::test_under_xdist_a_secret_found_by_a_worker_fails_the_run",
    "tests/bench/test_turn_model.py::test_a_tiny_run_end_to_end",
    "tests/bench/test_relay.py::test_the_relay_bench_runs_both_agents",
    "tests/bench/latency/test_run.py::test_latency_benchmark_compares_off_preemptive",
    "tests/bench/test_model_cost.py::test_a_burst_runs_the_staggered_calls_chunks_together",
    "tests/bench/soak/test_run.py::test_a_short_soak_accounts_for_every_call",
    "tests/bench/test_turn_model_train.py::test_training_writes_weights_the_model_loads",
    "tests/test_dependencies.py::test_production_imports_are_runtime_dependencies",
    "tests/sipgw/app/test_cli.py::test_eval_runs_the_evaluation_harness",
    # 17-32 s each in the whole runs of 2026-11-28
    "tests/interop/test_rfc4475_sequence.py",
    "tests/bench/test_awaited_turns.py::test_a_turn_through_the_gateway",
    "tests/interop/test_pipecat_twilio.py::test_pipecats_twilio_bot_greets_hears_and_answers",
    "tests/bench/test_smoke.py::test_capacity_machine_splits_calls_between_processes",
    # 30-120 s in a loaded whole run, and the units moved beside the lanes (PostgreSQL's
    # cluster tests, about 30 s on one worker)
    "tests/sipgw/app/calls/test_recording.py::test_a_twilio_call_is_recorded_like_any_call",
    "tests/sipgw/app/security/test_trust.py::test_guesses_checked_across_gateways_are_one",
    "tests/interop/test_postgres_cluster.py",
    "tests/sipgw/app/test_plugin.py::test_its_settings_are_in_the_help_and_its_errors",
    "tests/sipgw/app/test_settings_doc.py::test_the_error_examples_are_what_sipgw_prints",
    "tests/sipgw/sip/test_guessing.py::test_a_guesser_on_more_networks_than_the_table_holds",
    "tests/toolkit/amdset/test_labelled.py::test_a_plan_draws_its_beeps_and_tones",
)
"""The longest work units beside the lanes (node ids or their starts), longest first by a
whole run's figures (2026-11-27, 25-190 s each on a loaded machine; then those of 17-32 s on
2026-11-28): the scheduler hands them out right after the lanes, so that none starts last and
runs on alone after the rest is done."""


QUICK_TESTS = (
    "tests/sipgw/sip/",
    "tests/sipgw/foundation/",
    "tests/media/",
    "tests/twilio/",
    "tests/agent/turns/",
    "tests/agent/ivr/",
)
"""The sans-IO and unit tests (the protocol cores, media, Twilio's wire, turn-taking, the
phone-menu navigator, the base floor): ``--quick`` (``scripts/test --quick``) runs these
alone, but :data:`QUICK_LEFT_OUT`. The whole run runs them with everything else."""
QUICK_LEFT_OUT = (
    # sockets, aiortc's calls, the native build's own tests
    "tests/media/aio/",
    "tests/twilio/aio/",
    "tests/media/test_rtpio.py",
    # the hostile-input hunts (docs/security.md), whole files of them
    "tests/sipgw/sip/test_hostile_parsers.py",
    "tests/media/test_hostile_media.py",
    # the detectors measured on synthesized corpora (rooms, talk-off, voices)
    "tests/media/voice/test_model_vad.py",
    "tests/media/tones/test_dtmf_detect.py::test_the_talk_off_set_yields_no_digit",
    "tests/media/tones/test_dtmf_detect.py::test_speech_like_sound_never_yields_a_digit",
    "tests/media/tones/test_beep.py::test_speech_like_sound_is_never_a_beep",
    "tests/media/tones/test_beep.py::test_any_beep_in_the_band_is_found_once",
    "tests/media/voice/test_turn_model.py::test_accuracy_on_held_out_voices_and_lines",
    "tests/media/voice/test_turn_tail.py::test_the_tail_gives_the_models_own_probability",
    "tests/media/voice/test_silero_math.py::test_numpy_and_onnx_runtime_give_the_same",
    # Hypothesis searches and long runs of 2.5 s or more alone (a loaded 2-vCPU machine)
    "tests/sipgw/sip/test_offeranswer.py::test_mangled_",
    "tests/sipgw/sip/test_sdp.py::test_mangled_sdp_only_raises_sdp_error",
    "tests/sipgw/sip/test_message.py::test_mutated_",
    "tests/sipgw/sip/test_message.py::test_random_chunking_matches_whole_parse",
    "tests/sipgw/sip/test_useragent.py::test_mutated_messages_never_raise",
    "tests/sipgw/sip/test_guessing.py::test_a_guesser_on_more_networks_than_the_table_holds",
    "tests/sipgw/sip/test_guessing.py::test_interleaved_user_and_guesser",
    "tests/sipgw/sip/test_auth.py::test_guesses_per_user_are_bounded_across_sources",
    "tests/sipgw/sip/usages/test_strangers.py::test_a_forged_source_flood_holds_no_",
    "tests/sipgw/sip/test_dialpolicy.py::test_a_target_is_judged_as_the_sip_stack_reads_it",
    "tests/sipgw/sip/test_transaction.py::test_any_input_sequence_leaves_a_valid_state",
    "tests/sipgw/foundation/test_handled_errors.py::test_a_failed_task_awaited_and_handled_",
    "tests/sipgw/foundation/stores/test_sql.py::test_new_ids_come_back_and_the_dialects_",
    "tests/media/test_jitterbuffer.py::test_property_heavy_jitter",
    "tests/media/test_jitterbuffer.py::test_property_reordering_within_window",
    "tests/media/test_ingress.py::test_property_reorder_within_the_wait_gives_the_exact_stream",
    "tests/media/test_session.py::test_a_call_s_addresses_are_not_kept_after_it",
    "tests/media/test_pacer.py::test_no_drift_over_100k_ticks",
    "tests/twilio/test_messages.py::test_any_shaped_message_parses_or_is_refused",
)
"""Tests under :data:`QUICK_TESTS` the quick loop leaves to the whole run: sockets, the
hunts for hostile input, corpora and the longest searches (node ids or their starts)."""


def in_quick_loop(nodeid: str) -> bool:
    """Whether ``--quick`` runs the test (:data:`QUICK_TESTS` but :data:`QUICK_LEFT_OUT`)."""
    return nodeid.startswith(QUICK_TESTS) and not nodeid.startswith(QUICK_LEFT_OUT)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--quick",
        action="store_true",
        default=False,
        help="run the sans-IO and unit tests alone (QUICK_TESTS in tests/conftest.py)",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``--quick``, collects nothing outside the quick loop's folders and files."""
    if not config.getoption("quick"):
        return None
    try:
        name = collection_path.relative_to(config.rootpath).as_posix()
    except ValueError:
        return None
    if collection_path.is_dir():
        name += "/"
        inside = any(name.startswith(q) or q.startswith(name) for q in QUICK_TESTS)
    else:
        inside = name.startswith(QUICK_TESTS)
    return True if not inside or name.startswith(QUICK_LEFT_OUT) else None


def peer_lane(nodeid: str) -> str:
    """The lane (work unit) a real-peer test runs in, "" for any other test."""
    if not nodeid.startswith(REAL_PEER_TESTS) or nodeid.startswith(BESIDE_PEERS):
        return ""
    for lane, tests in zip(PEER_LANES, (LOAD_LANE, NAMESPACE_LANE, THIRD_LANE), strict=False):
        if nodeid.startswith(tests):
            return lane
    return PEER_LANES[3]


def hand_out_rank(unit: str) -> int:
    """Where a work unit stands in the queue: the lanes first, then :data:`SLOWEST_OTHERS`
    in their order, then the rest as collected (the sort is stable)."""
    if unit in PEER_LANES:
        return 0
    slow = next((n for n, prefix in enumerate(SLOWEST_OTHERS) if unit.startswith(prefix)), None)
    return len(SLOWEST_OTHERS) + 1 if slow is None else slow + 1


def in_peers_group(nodeid: str) -> bool:
    """True for a test that runs in one of the real-peer lanes."""
    return bool(peer_lane(nodeid))


@functools.cache
def _under_interop(path: Path) -> bool:
    """Whether a test file is in ``tests/interop`` (resolved once a file, not once a test:
    8,600 tests in 650 files)."""
    return INTEROP in path.resolve().parents


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Generator[None, object, object]:
    """Collects without the garbage collector, then sets it as a gateway sets its own
    (``sipgw/app/operations/collector.py``): what collection made (the test items, the
    modules) frozen out of its reach, a young collection every 50,000 allocations, not 700.
    Every xdist worker collects the whole suite; on seven workers freezing took the time
    before the first test from 53-58 s to 33-39 s and its processor time from 98-107 s to
    59-70 s; the thresholds take a third off tests that build many objects that live (the
    syntax trees of tests/test_layers.py: 9-11 s -> 3.5 s). docs/testing.md, "Where the
    time goes"."""
    collector.hold()
    try:
        return (yield)
    finally:
        collector.settle()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks ``tests/interop`` ``interop``; a test marked ``interop`` elsewhere must be listed
    in :data:`REAL_PEER_TESTS`, so that it never runs beside another peer. With ``--quick``,
    deselects all but the quick loop's tests (:func:`in_quick_loop`)."""
    for item in items:
        if _under_interop(Path(item.path)):
            item.add_marker(pytest.mark.interop)
        elif item.get_closest_marker("interop") and not in_peers_group(item.nodeid):
            raise pytest.UsageError(f"{item.nodeid} is marked interop: list it in REAL_PEER_TESTS")
    if config.getoption("quick"):
        left = [item for item in items if not in_quick_loop(item.nodeid)]
        if left:
            config.hook.pytest_deselected(items=left)
            items[:] = [item for item in items if in_quick_loop(item.nodeid)]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``: xdist's groups, plus the real-peer tests in four units (lanes)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling  # type: ignore[import-untyped]

    class PeersScheduling(NoRerunOnCrash, LoadGroupScheduling):  # type: ignore[misc]
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            unit = next((m for m in ONE_UNIT if nodeid.startswith(m + "::")), "")
            return peer_lane(nodeid) or unit or str(super()._split_scope(nodeid))

        def _assign_work_unit(self, node: Any) -> None:
            if not self.ordered:  # the whole queue is there at the first hand-out
                self.ordered = True
                units = sorted(self.workqueue.items(), key=lambda unit: hand_out_rank(unit[0]))
                self.workqueue.clear()
                self.workqueue.update(units)
            super()._assign_work_unit(node)

    return PeersScheduling(config, log)


_COSTS = LaneCosts(lambda nodeid: peer_lane(nodeid) or "others")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    phase_start(item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    phase_start(item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    phase_start(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Each phase's processor time rides on its report to the controller (:mod:`run_costs`)."""
    report = yield
    phase_cost(item, report)
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Sums each lane's test time and processor time (the controller sees every worker's
    reports): the lanes run one test at a time, so the time summed is the lane's length, the
    figure to balance them by; the processor time is what a test costs the tests beside it."""
    _COSTS.add(report)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Prints each lane's summed time and processor time and its costliest tests when the
    real-peer lanes ran."""
    if any(lane in _COSTS.wall for lane in PEER_LANES):
        terminalreporter.section("time per lane (sum of setup, call and teardown)")
        _COSTS.summary(terminalreporter.write_line)
