"""Prometheus metrics of one gateway process (``GET /metrics`` on the admin server).

:class:`GatewayMetrics` keeps its own :class:`~prometheus_client.CollectorRegistry`
(not the library's global one), so two gateways in one process (tests) never
share series. Label sets are bounded: no series is per call. Three sources:

- events the gateway reports as they happen (:meth:`GatewayMetrics.call_ended`),
  and the agents' reports through :class:`sipgw.agent.observer.AgentObserver`
  (:attr:`GatewayMetrics.agent_observer`): turn latencies, barge-ins, AI errors, who
  answered an outbound call;
- the media ticker's wake-up lateness, observed on every tick;
- at scrape time, the counters the stats line logs (:meth:`MetricsSource.counters`,
  :class:`sipgw.app.operations.counters.Counters`) and the registration state of each configured
  account: read, never kept twice.

:meth:`GatewayMetrics.render` gives the text exposition and its content type.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from sipgw.agent.observer import (
    ANSWER_KINDS,
    TURN_STAGES,
    AgentObserver,
    ErrorKind,
    IdleOutcome,
    PreemptiveOutcome,
    Service,
    SpeculativeOutcome,
)  # fmt: skip
from sipgw.agent.talk import TalkFigures
from sipgw.app.operations.counters import Counters
from sipgw.app.operations.timeline import CallTimeline
from sipgw.media import _accel
from sipgw.media.quality import CallQuality

__all__ = ["CONTENT_TYPE", "GatewayMetrics", "MetricsSource"]

TURN_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
"""Seconds: from the fast path (a cached first byte) to a stuck service."""
JITTER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2)
"""Seconds of per-call interarrival jitter (RFC 3550 §6.4.1)."""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format, which every Prometheus version scrapes (our names are ASCII)."""
LOSS_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
"""Share of the peer's RTP packets lost in a call."""
MOS_BUCKETS = (1.5, 2.0, 2.5, 3.0, 3.5, 3.8, 4.0, 4.2, 4.4)
"""Estimated MOS (ITU-T G.107 simplified, :mod:`sipgw.media.quality`); G.711 tops out near 4.4."""
RTT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
"""Seconds of RTCP round-trip time (RFC 3550 §6.4.1)."""
LATENESS_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
"""Seconds a ticker wake-up came after its 20 ms deadline."""
TALK_OVER_BUCKETS = (0.0, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds both parties of a call spoke at once (sipgw_talk_over_seconds)."""
AMD_BUCKETS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 20.0, 40.0)
"""Seconds from an outbound call's answer to who answered (docs/amd.md): a person's
"Hello?" in under a second, a machine within 4 s, a screened call much later."""

_GAUGES = {
    "calls": ("sipgw_active_calls", "Calls in progress (ringing or answered)."),
    "rtp_ports_in_use": ("sipgw_rtp_ports_in_use", "RTP port pairs bound by calls."),
    "flood_sources": ("sipgw_flood_sources", "Source addresses the flood guard tracks."),
    "overloaded": (
        "sipgw_overloaded",
        "1 while new calls are refused for overload (tick lateness or CPU), else 0.",
    ),
}
_COUNTER_NAMES = {
    "calls_total": "calls_offered",
    "rtp_in": "rtp_packets_received",
    "rtp_out": "rtp_packets_sent",
    "jb_lost": "rtp_packets_lost",
    "jb_late": "rtp_packets_late",
    "jb_concealed": "concealed_frames",
    "jb_inserted": "jitter_frames_inserted",
    "jb_dropped": "jitter_frames_dropped",
    "jb_reanchors": "jitter_reanchors",
}
"""Stats-line keys whose series say more under another name (``sipgw_<name>_total``)."""
_COUNTER_HELP = {
    "calls_total": "Calls offered to the gateway (inbound, admitted).",
    "rtp_in": "RTP packets received, over all calls.",
    "rtp_out": "RTP packets sent, over all calls.",
    "jb_lost": "RTP packets the jitter buffer counted as lost, over all calls.",
    "jb_late": "RTP packets that arrived too late to play, over all calls.",
    "jb_concealed": "Frames concealed (played as loss concealment), over all calls.",
    "jb_inserted": "Quiet frames the jitter buffer played twice (slow caller clock), all calls.",
    "jb_dropped": "Frames the jitter buffer dropped to shrink its delay (bursts, fast caller "
    "clock), over all calls.",
    "jb_reanchors": "Caller timestamp jumps the jitter buffer re-anchored on, over all calls.",
    "early_sends": "Agent frames sent ahead of their tick (talkspurt fast path).",
    "refused": "Requests the access policy refused.",
    "challenged": "Requests answered with a digest challenge.",
    "unchecked": "Digest answers refused unchecked (their user in backoff after wrong passwords).",
    "dial_refused": "Transfers, calls and DTMF the dial allow-list refused.",
    "rate_limited": "Requests the flood guard dropped.",
    "rate_limit_503s": "503 replies the flood guard sent.",
    "scanners_dropped": "Requests from known SIP scanners dropped.",
    "call_rate_limited": "INVITEs over the global call rate.",
    "caller_rate_limited": "INVITEs over the per-caller call rate.",
    "overload_refused": "INVITEs answered 503 for overload.",
    "udp_oversized": "UDP datagrams dropped for their size.",
    "tcp_refused": "TCP/TLS connections refused (limits).",
    "tcp_slow_senders": "TCP/TLS connections closed for sending too slowly.",
    "rtp_foreign": "RTP packets from a source that is not the call's, dropped, over all calls.",
    "rtp_relatched": "Times a call's RTP source moved with its stream continuing (NAT).",
    "rtp_paused": "Times a call's sending paused because its peer gave no sign of life.",
    "rtp_withheld": "Frames not sent: before the ACK, or while the peer was silent.",
    "tcp_closed_unanswered": "TCP/TLS connections closed because a request got no answer.",
    "tls_handshake_failures": "Accepted TLS connections whose handshake failed or timed out, "
    "or whose certificate named none of SIPGW_TLS_PEER_NAMES.",
    "stateless_answers": "Requests of sources not allowed answered without a transaction.",
    "stateless_withheld": "Stateless UDP responses not sent: larger than their request.",
    "admin_throttled": "Admin requests refused (429) after too many wrong tokens.",
    "rtp_unclaimed": "Datagrams on the shared RTP/RTCP port no call claims, dropped.",
    "rtp_address_collisions": "Calls whose SDP named an address another call on the shared "
    "RTP port holds.",
}


class MetricsSource(Protocol):
    """What the scrape-time collector reads of the gateway."""

    def counters(self) -> Counters:
        """The stats line's counters (calls, RTP, refusals, rate limits, transports)."""
        ...

    def registration_states(self) -> Mapping[str, bool]:
        """Each configured account's AOR: registered now or not."""
        ...

    def ticker_counts(self) -> tuple[int, int]:
        """The media ticker's ticks run and ticks skipped."""
        ...


class _ScrapeCollector(Collector):
    """Turns the gateway's own counters into series when Prometheus scrapes."""

    def __init__(self, source: MetricsSource) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return list(self._metrics())

    def _metrics(self) -> Iterator[Metric]:
        for key, value in self.source.counters().as_dict().items():
            if key in _GAUGES:
                name, doc = _GAUGES[key]
                yield GaugeMetricFamily(name, doc, value=value)
            else:
                name = _COUNTER_NAMES.get(key, key)
                doc = _COUNTER_HELP.get(key, f"The stats line's {key!r} counter.")
                yield CounterMetricFamily(f"sipgw_{name}", doc, value=value)
        up = GaugeMetricFamily(
            "sipgw_registration_up", "1 while the account is registered, else 0.", labels=["aor"]
        )
        for aor, registered in self.source.registration_states().items():
            up.add_metric([aor], 1.0 if registered else 0.0)
        yield up
        line_calls = getattr(self.source, "line_calls", None)
        if callable(line_calls):
            active = GaugeMetricFamily(
                "sipgw_line_calls", "Calls up now on each line of the routes file.",
                labels=["line"],
            )  # fmt: skip
            for line, count in line_calls().items():
                active.add_metric([line], float(count))
            yield active
        ticks, skipped = self.source.ticker_counts()
        yield CounterMetricFamily("sipgw_ticks", "Media ticker ticks run.", value=ticks)
        yield CounterMetricFamily(
            "sipgw_ticks_skipped", "Media ticks skipped (the loop was too late).", value=skipped
        )


class _AgentMetrics:
    """The :class:`sipgw.agent.observer.AgentObserver` the gateway gives every agent."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def turn_measured(self, stages: Mapping[str, float]) -> None:
        for stage, seconds in stages.items():
            if stage in TURN_STAGES and seconds >= 0:
                self._metrics.turn_stage.labels(stage=stage).observe(seconds)

    def barge_in(self) -> None:
        self._metrics.barge_ins.inc()
        self._metrics.timeline.barge_in()

    def tool_called(self, source: str, outcome: str, seconds: float) -> None:
        self._metrics.tool_calls.labels(source=source, outcome=outcome).inc()
        self._metrics.tool_seconds.labels(source=source).observe(max(0.0, seconds))

    def service_error(self, service: Service, kind: ErrorKind, status: int | None = None) -> None:
        self._metrics.ai_errors.labels(service=service, kind=kind).inc()
        self._metrics.timeline.vendor_error()

    def preemptive(self, outcome: PreemptiveOutcome) -> None:
        self._metrics.preemptive.labels(outcome=outcome).inc()

    def speculative_speech(self, outcome: SpeculativeOutcome, chars: int) -> None:
        self._metrics.speculative_chars.labels(outcome=outcome).inc(chars)

    def tts_spoken(self, chars: int) -> None:
        self._metrics.spoken_chars.inc(chars)

    def service_ok(self, service: Service) -> None:
        pass  # the breakers count it (sipgw.app.operations.breakers)

    def failure_decision(self, decision: str) -> None:
        self._metrics.failure_decisions.labels(decision=decision).inc()

    def answer_detected(self, kind: str, seconds: float) -> None:
        if kind in ANSWER_KINDS:
            self._metrics.amd_results.labels(kind=kind).inc()
            self._metrics.amd_decision.observe(max(0.0, seconds))

    def idle(self, step: IdleOutcome) -> None:
        self._metrics.idle.labels(step=step).inc()

    def talk_measured(self, figures: TalkFigures) -> None:
        metrics = self._metrics
        metrics.talk_over.observe(figures.talk_over_s)
        metrics.agent_interrupted.inc(figures.agent_interrupted)
        metrics.callers_cut_off.inc(figures.caller_cut_off)
        metrics.dead_air.inc(figures.dead_air)
        metrics.dead_air_seconds.inc(figures.dead_air_s)
        if figures.first_word_s is not None:
            metrics.first_word.observe(max(0.0, figures.first_word_s))


class GatewayMetrics:
    """The gateway's Prometheus series, in a registry of their own."""

    def __init__(self, source: MetricsSource) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        registry = self.registry
        self.calls = Counter(
            "sipgw_calls",
            "Calls ended, by direction, leg (sip, twilio, browser), end reason "
            "(sipgw.sip.events.EndReason; docs/legs.md for the other legs) and line (empty without "
            "a routes file).",
            ["direction", "leg", "outcome", "line"],
            registry=registry,
        )
        self.call_codecs = Counter(
            "sipgw_call_codecs",
            "Calls ended that had media, by the audio codec negotiated (PCMU, PCMA, G722, OPUS: "
            "docs/hd-voice.md).",
            ["codec"],
            registry=registry,
        )
        self.media_path = Gauge(
            "sipgw_media_path",
            '1 for the media path this process runs (docs/performance.md, "The native media '
            'path"): native (the hot modules compiled, RTP read in batches) or pure (Python).',
            ["path"],
            registry=registry,
        )
        self.media_path.labels(path=_accel.PATH).set(1)
        self.route_refusals = Counter(
            "sipgw_route_refusals",
            "Incoming calls the routes refused: no-route (no route matched and no default "
            "line; line empty), line-busy (the line held its max_calls), tls-peer (the line takes "
            "calls only from TLS peers named in its tls_peer_names: 403), no-codec (the "
            "offer had none of the codecs of its line or account: 488) or siprec (a SIPREC "
            "recording session and a line that differ: 420, 421 or 488).",
            ["line", "why"],
            registry=registry,
        )
        self.turn_stage = Histogram(
            "sipgw_turn_stage_seconds",
            "Assistant turn latency by stage: stt_end_of_turn, llm_first_token, tools (its "
            "tool rounds, in replies that called tools), tts_first_byte, gateway_reply_path "
            "(TTS first byte to first RTP frame).",
            ["stage"],
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self.barge_ins = Counter(
            "sipgw_barge_ins", "Replies the caller interrupted.", registry=registry
        )
        # What the callers lived through (sipgw.agent.talk), per answered call.
        self.talk_over = Histogram(
            "sipgw_talk_over_seconds",
            "Seconds the caller and the agent spoke at once, per call.",
            buckets=TALK_OVER_BUCKETS,
            registry=registry,
        )
        self.agent_interrupted = Counter(
            "sipgw_agent_interrupted",
            "Times a caller began speaking while the agent spoke (a backchannel too).",
            registry=registry,
        )
        self.callers_cut_off = Counter(
            "sipgw_callers_cut_off",
            "Replies that began while the caller spoke, or that the caller went on into "
            "within half a second: they had not finished.",
            registry=registry,
        )
        self.dead_air = Counter(
            "sipgw_dead_air",
            "Silences of both parties over 2 s after the caller spoke.",
            registry=registry,
        )
        self.dead_air_seconds = Counter(
            "sipgw_dead_air_seconds", "Those silences' seconds, in all.", registry=registry
        )
        self.first_word = Histogram(
            "sipgw_first_word_seconds",
            "Seconds from a call's answer to the agent's first audio.",
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self.tool_calls = Counter(
            "sipgw_tool_calls",
            "Tool calls the model made, by the tool's source (builtin, python, http, mcp) and "
            "outcome (ok, error, or refused: schema, dial, limit, unavailable).",
            ["source", "outcome"],
            registry=registry,
        )
        self.tool_seconds = Histogram(
            "sipgw_tool_seconds",
            "How long tool calls took, by the tool's source.",
            ["source"],
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self.ai_errors = Counter(
            "sipgw_ai_errors",
            "AI service errors by service (stt, llm, tts, s2s) and kind "
            "(timeout, connect, http_status, protocol).",
            ["service", "kind"],
            registry=registry,
        )
        self.preemptive = Counter(
            "sipgw_preemptive_requests",
            "Preemptive LLM requests (started before the end of turn) by outcome: "
            "started, used (the final transcript matched), wasted (cancelled).",
            ["outcome"],
            registry=registry,
        )
        self.speculative_chars = Counter(
            "sipgw_speculative_tts_chars",
            "Characters synthesized before the end of turn was confirmed (speculative "
            "speech) by outcome: used (played), wasted (discarded unheard).",
            ["outcome"],
            registry=registry,
        )
        self.spoken_chars = Counter(
            "sipgw_tts_spoken_chars",
            "Characters sent to text-to-speech for speech played to callers (held clauses "
            'that were used included): sipgw_speculative_tts_chars_total{outcome="wasted"} '
            "is a share of it, bounded by SIPGW_SPECULATIVE_MAX_WASTE_PERCENT per call.",
            registry=registry,
        )
        self.failure_decisions = Counter(
            "sipgw_failure_decisions",
            "What the failure policy decided the caller hears when an AI service fails, by "
            "decision (hold_line, stt_down_notice, tts_down_apology, llm_apology, "
            "*_transfer, *_goodbye ...: docs/assistant.md).",
            ["decision"],
            registry=registry,
        )
        self.idle = Counter(
            "sipgw_idle",
            "What the idle policy did about callers who went quiet, by step: check_in (the "
            "agent asked if they were still there), hang_up (it said goodbye and hung up; the "
            "call record's end says hung_up_for idle): docs/assistant.md.",
            ["step"],
            registry=registry,
        )
        self.amd_results = Counter(
            "sipgw_amd_results",
            "Outbound calls by who answered, as answering-machine detection decided: "
            "human, voicemail, announcement, screener, unknown (docs/amd.md).",
            ["kind"],
            registry=registry,
        )
        self.amd_decision = Histogram(
            "sipgw_amd_decision_seconds",
            "Time from an outbound call's answer to detection's final decision.",
            buckets=AMD_BUCKETS,
            registry=registry,
        )
        self.call_jitter = Histogram(
            "sipgw_call_jitter_seconds",
            "Each ended call's interarrival jitter of the RTP we received (RFC 3550 A.8).",
            buckets=JITTER_BUCKETS,
            registry=registry,
        )
        self.call_loss = Histogram(
            "sipgw_call_loss_ratio",
            "Each ended call's share of the peer's RTP packets lost.",
            buckets=LOSS_BUCKETS,
            registry=registry,
        )
        self.call_mos = Histogram(
            "sipgw_call_mos",
            "Each ended call's estimated MOS (E-model, ITU-T G.107 simplified).",
            buckets=MOS_BUCKETS,
            registry=registry,
        )
        self.call_rtt = Histogram(
            "sipgw_call_rtt_seconds",
            "Each ended call's RTCP round-trip time, when the peer sent reports.",
            buckets=RTT_BUCKETS,
            registry=registry,
        )
        self.tick_lateness = Histogram(
            "sipgw_tick_lateness_seconds",
            "How late each 20 ms media tick woke up.",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        registry.register(_ScrapeCollector(source))
        self.agent_observer: AgentObserver = _AgentMetrics(self)
        """Set as each agent's :attr:`sipgw.agent.base.Agent.observer`."""
        self.timeline = CallTimeline()
        """The dashboard's charts: the same figures a minute at a time for a day
        (:mod:`sipgw.app.operations.timeline`)."""

    def call_ended(
        self,
        direction: str,
        outcome: str,
        quality: CallQuality | None,
        leg: str = "sip",
        line: str = "",
    ) -> None:
        """A call ended: ``outcome`` is its end reason's value; ``quality`` its media
        figures if it had media; ``leg`` how it came (``sip``, ``twilio``, ``browser``);
        ``line`` the line it was routed to."""
        self.calls.labels(
            direction=direction, leg=leg, outcome=outcome or "unknown", line=line
        ).inc()
        self.timeline.call_ended(outcome, quality.mos if quality is not None else None)
        if quality is None:
            return
        if quality.codec:
            self.call_codecs.labels(codec=quality.codec).inc()
        self.call_jitter.observe(quality.jitter_ms / 1000)
        self.call_loss.observe(max(0.0, quality.loss_percent) / 100)
        self.call_mos.observe(quality.mos)
        if quality.rtt_ms is not None:
            self.call_rtt.observe(quality.rtt_ms / 1000)

    def observe_tick_lateness(self, seconds: float) -> None:
        """One ticker wake-up's delay (the ticker's ``on_lateness``)."""
        self.tick_lateness.observe(max(0.0, seconds))

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every series, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE
