"""Tests mirror the tree: each module has ``tests/<package>/.../test_<module>.py``.

For ``sipgw/sip/usages/invite.py`` that is ``tests/sipgw/sip/usages/test_invite.py``;
``sipgw/media``, ``sipgw/twilio`` and ``sipgw/agent`` have folders of their own
(``sipgw/media/rtp.py`` -> ``tests/media/test_rtp.py``). Other test
files may sit beside them (a feature across modules, the RFC 4475 messages, hostile
input), but a reader looking for a module's tests finds them at the mirrored path.

The production packages (``sipgw``, ``media``, ``agent``), the test toolkit
(``tests/toolkit``, whose tests sit beside its modules: ``tests/toolkit/netns.py`` ->
``tests/toolkit/test_netns.py``) and the benchmarks (``bench``) are all checked. Modules
without such a file are listed in :data:`EXCEPTIONS` (a module, or a folder ending in
``/``), each with the reason: where it is exercised instead, or why nothing runs it. A test
file a reason cites must exist. :data:`PENDING` holds the ones still to be written; it must
shrink to nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sipgw", "bench", "tests/toolkit")

_PEER = (
    "drives a real peer: exercised by the tests/interop tests that run it (e.g. {}), one at a "
    "time in a network namespace; a unit test would need the peer too"
)
_SMOKE = (
    "a benchmark: run end to end in a short mode by tests/bench/test_smoke.py, which checks "
    "what its JSON reports (figures are measured, never asserted)"
)
_HARNESS = "runs the gateway for tests: exercised by most of tests/sipgw/app (e.g. {})"

EXCEPTIONS: dict[str, str] = {
    # -- the test toolkit: exercised by the tests that use it
    "sipgw/app/evaluation/fakes/": "the AI vendors' fakes that sipgw eval runs: as "
    "tests/toolkit/fakes/",
    "tests/toolkit/fakes/": "the AI vendors' and Twilio's fakes, written from the vendors' "
    "documentation (docs/cloud-apis.md): exercised by our clients' tests against them "
    "(tests/agent/services/assemblyai/test_stt.py, tests/agent/services/elevenlabs/test_tts.py, "
    "tests/agent/services/openai/test_chat.py, tests/agent/s2s/test_calls.py, "
    "tests/twilio/aio/test_connection.py); a test of a fake through our own client is that test",
    "tests/toolkit/gateway_in_process.py": _HARNESS.format("tests/sipgw/app/calls/test_inbound.py"),
    "sipgw/app/evaluation/gateway_process.py": _HARNESS.format(
        "tests/sipgw/app/security/test_filemodes.py"
    ),
    "tests/toolkit/metrics.py": "reads the Prometheus exposition in tests: exercised by "
    "tests/sipgw/app/operations/test_metrics.py and tests/sipgw/app/admin/test_server.py",
    "tests/toolkit/canaries.py": "the secret canaries the tests configure, scanned for after "
    "each run by tests/conftest.py (tests/toolkit/canary_scan.py, tested in "
    "tests/toolkit/test_canary_scan.py)",
    "sipgw/app/evaluation/caller.py": "part of the evaluation harness (sipgw eval): "
    "exercised by tests/sipgw/app/evaluation/test_scenario.py and, end to end, by "
    "tests/interop/test_eval_harness.py",
    "sipgw/app/evaluation/run.py": "as sipgw/app/evaluation/caller.py",
    "sipgw/app/evaluation/report.py": "the evaluation harness's report: written by every "
    "run of tests/interop/test_eval_harness.py, which checks it",
    "tests/toolkit/browser.py": "drives headless Chromium: exercised by "
    "tests/interop/test_browser_phone.py and tests/interop/test_dashboard_browser.py",
    "tests/toolkit/firefox.py": "drives headless Firefox over Marionette: exercised by "
    "tests/interop/test_browser_phone.py",
    "tests/toolkit/https_proxy.py": "a TLS reverse proxy in front of the admin server: "
    "exercised by tests/interop/test_browser_phone.py",
    "tests/toolkit/webhook_receiver.py": "a webhook receiver: exercised by "
    "tests/interop/test_webhooks_peers.py and tests/test_docs.py",
    "tests/toolkit/peers/linphonec.py": _PEER.format("tests/interop/test_registration.py"),
    "tests/toolkit/peers/sipp.py": _PEER.format("tests/interop/test_flood.py"),
    "tests/toolkit/peers/dnsmasq.py": _PEER.format("tests/interop/test_dns_failover.py"),
    "tests/toolkit/peers/coturn.py": _PEER.format("tests/interop/test_browser_turn.py"),
    # -- the benchmarks
    "bench/_harness.py": "the benchmarks' shared helpers: their percentiles are tested in "
    "tests/bench/test_smoke.py, the rest runs with every benchmark there",
    "bench/attacks/": "the attacks of docs/security.md: run in their quick mode by "
    "tests/bench/test_smoke.py, which checks the figures the docs quote",
    "bench/capacity.py": _SMOKE,
    "bench/capacity_machine.py": _SMOKE,
    "bench/capacity_steps.py": "the steps of bench.capacity: " + _SMOKE,
    "bench/loadgen.py": "bench.capacity's load generator: " + _SMOKE,
    "bench/fake_services.py": "the AI-service fakes the assistant benchmarks call: run by "
    "tests/bench/test_smoke.py (the assistant's capacity) and tests/bench/latency/test_run.py",
    "bench/drift.py": _SMOKE,
    "bench/hd_voice.py": _SMOKE,
    "bench/s2s_hd_voice.py": _SMOKE,
    "bench/_voice_ticks.py": "what bench.hd_voice and bench.s2s_hd_voice share: runs with "
    "both in tests/bench/test_smoke.py",
    "bench/dial_cpu.py": _SMOKE,
    "bench/codec_cost.py": _SMOKE,
    "bench/dtmf_detect.py": _SMOKE,
    "bench/pacing.py": _SMOKE,
    "bench/sip_core.py": _SMOKE,
    "bench/startup.py": _SMOKE,
    "bench/soak/options.py": "part of bench.soak: run end to end by tests/bench/soak/test_run.py",
    "bench/soak/peers.py": "as bench/soak/options.py",
    "bench/soak/report.py": "as bench/soak/options.py",
    "bench/soak/sampler.py": "as bench/soak/options.py",
    "bench/legs.py": _SMOKE,
    "bench/latency/analysis.py": "part of bench.latency: run end to end by "
    "tests/bench/latency/test_run.py",
    "bench/latency/caller.py": "as bench/latency/analysis.py",
    "bench/media_core.py": "microbenchmarks of the media hot path (docs/performance.md), run "
    "by hand: no test runs it; what it times is tested in tests/media",
    "bench/references/pyvoip_echo.py": "pyVoIP's echo, the reference bench.capacity --compare "
    "starts in a venv of its own (pyVoIP is no dependency of ours): run by hand",
    "bench/database.py": "the shared database's load per call: needs a real PostgreSQL, run "
    "small by tests/interop/test_postgres_cluster.py, which checks each part is measured",
    "bench/database_loop.py": "the media ticker beside a busy shared database: needs a real "
    "PostgreSQL, run small by tests/interop/test_postgres_cluster.py (both phases measured)",
    # -- the shared state in PostgreSQL (issue 44): every module needs a real server
    "sipgw/app/cluster/": "the shared state in PostgreSQL: exercised against a real server "
    "(tests/toolkit/postgres.py) by tests/interop/test_postgres_cluster.py and "
    "tests/interop/test_campaigns_cluster.py",
    "tests/toolkit/postgres.py": _PEER.format("tests/interop/test_postgres_cluster.py"),
    # -- the TwiML interpreter's verb handlers (sipgw/agent/twiml/verbs/): each runs only
    # inside a TwimlAgent, whose call, app and ticker the tests of each verb set up
    "sipgw/agent/twiml/verbs/dispatch.py": "a verb to its handler, the tick to the verb running: "
    "every TwimlAgent test goes through it (tests/agent/twiml/test_agent.py)",
    "sipgw/agent/twiml/verbs/playback.py": "<Say>, <Play>, <Play digits> through TwimlAgent in "
    "tests/agent/twiml/test_agent.py and tests/agent/twiml/test_gather.py",
    "sipgw/agent/twiml/verbs/stream.py": "<Connect>/<Start>/<Stop><Stream> through TwimlAgent in "
    "tests/agent/twiml/test_agent.py",
    "sipgw/agent/twiml/verbs/conversationrelay.py": "<Connect><ConversationRelay> through "
    "TwimlAgent in tests/agent/twiml/relay/test_session.py",
    "sipgw/agent/twiml/verbs/transcription.py": "<Start>/<Stop><Transcription> through "
    "TwimlAgent in tests/agent/twiml/test_transcriptions.py",
    "sipgw/agent/twiml/verbs/gather.py": "<Gather> through TwimlAgent in "
    "tests/agent/twiml/test_gather.py",
    "sipgw/agent/twiml/verbs/record.py": "<Record> through TwimlAgent in "
    "tests/agent/twiml/test_recording.py and tests/agent/twiml/test_recordtranscribe.py",
    "sipgw/agent/twiml/verbs/dial.py": "<Dial> through TwimlAgent in "
    "tests/agent/twiml/dial/test_bridge.py, tests/agent/twiml/dial/test_referurl.py, "
    "tests/agent/twiml/dial/test_ringall.py, tests/agent/twiml/queues/test_queuedial.py and "
    "tests/agent/test_answering_later.py",
    "sipgw/agent/twiml/verbs/dialrecording.py": "<Dial record> through TwimlAgent in "
    "tests/agent/twiml/dial/test_bridge.py",
    "sipgw/agent/twiml/verbs/refer.py": "<Refer> through TwimlAgent in "
    "tests/agent/twiml/test_referverb.py",
    "sipgw/agent/twiml/verbs/conference.py": "<Dial><Conference> through TwimlAgent in "
    "tests/agent/twiml/test_conference.py",
    "sipgw/agent/twiml/verbs/enqueue.py": "<Enqueue> through TwimlAgent in "
    "tests/agent/twiml/queues/test_enqueue.py",
    "sipgw/agent/ivr/steps.py": "the navigator's decisions and outcomes, frozen records: "
    "carried through tests/agent/ivr/test_navigator.py and tests/agent/ivr/test_decider.py",
}
"""Module (or folder ending in ``/``) -> why it has no test file of its own."""

PENDING: frozenset[str] = frozenset()
"""Modules whose mirrored test file is still to be written (shape step, issue 20)."""


def excepted(module: str) -> bool:
    """Whether ``module`` is listed, or lies in a listed folder."""
    return module in EXCEPTIONS or any(
        listed.endswith("/") and module.startswith(listed) for listed in EXCEPTIONS
    )


def production_modules() -> list[str]:
    """Every module of the production packages, as a path relative to the repository."""
    modules = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name in ("__init__.py", "__main__.py") or ".venv" in path.parts:
                continue
            if path.name.startswith("test_"):
                continue  # the toolkit's own tests, beside it
            if path.resolve() != path:
                continue  # a file once, by its own path, not again through a link
            modules.append(path.relative_to(ROOT).as_posix())
    return modules


def mirrored_test(module: str) -> Path:
    """``sipgw/sip/usages/invite.py`` -> ``tests/sipgw/sip/usages/test_invite.py``."""
    path = Path(module)
    if path.parts[0] == "tests":  # the toolkit: its tests beside it
        return ROOT / path.parent / f"test_{path.name}"
    if path.parts[:2] in (("sipgw", "media"), ("sipgw", "twilio"), ("sipgw", "agent")):
        path = path.relative_to("sipgw")  # tests/media, tests/twilio, tests/agent
    return ROOT / "tests" / path.parent / f"test_{path.name}"


def test_every_module_has_its_mirrored_test_file() -> None:
    modules = production_modules()
    assert any(m.startswith("tests/toolkit/") for m in modules)  # nothing skipped blindly
    assert any(m.startswith("bench/") for m in modules)
    without = [m for m in modules if not mirrored_test(m).exists() and not excepted(m)]
    unexpected = sorted(set(without) - PENDING)
    assert not unexpected, f"modules without tests/<package>/.../test_<module>.py: {unexpected}"


def test_the_lists_name_only_modules_that_exist_and_lack_a_test_file() -> None:
    modules = set(production_modules())
    for listed in (*EXCEPTIONS, *PENDING):
        if listed.endswith("/"):
            inside = [m for m in modules if m.startswith(listed)]
            assert inside, f"{listed} is listed but holds no module of ours"
            assert any(not mirrored_test(m).exists() for m in inside), f"unlist {listed}"
            continue
        assert listed in modules, f"{listed} is listed but is no module of ours"
        assert not mirrored_test(listed).exists(), (
            f"{listed} now has {mirrored_test(listed).relative_to(ROOT)}: take it off the list"
        )


def test_the_test_files_a_reason_cites_exist() -> None:
    for listed, reason in EXCEPTIONS.items():
        assert reason.strip(), listed
        for cited in re.findall(r"tests/[\w/]+\.py", reason):
            assert (ROOT / cited).exists(), f"{listed}: the reason cites {cited}, which is gone"


def test_the_pure_python_pass_names_only_tests_that_exist() -> None:
    """scripts/test runs these again on the pure-Python media path: a moved test file would
    make that pass run nothing (pytest's "file or directory not found")."""
    script = (ROOT / "scripts" / "test").read_text()
    listed = re.search(r'PURE_TESTS="([^"]*)"', script)
    assert listed is not None, "scripts/test has no PURE_TESTS"
    paths = listed.group(1).split()
    assert "tests/media" in paths
    assert [p for p in paths if not (ROOT / p).exists()] == []
