"""Pipecat's Twilio bot (``tests/interop/apps/pipecat_twilio_bot.py``) as a process, its AI
services pointed at the project's fakes.

``pipecat-ai`` has a venv of its own (its dependencies, numba and onnxruntime among them,
are not ours): ``$SIPGW_PIPECAT_VENV``, else ``~/.cache/sipgw-pipecat-<version>``, which
``scripts/test`` makes. A test that needs it and finds none fails saying so: never a skip.

The fakes must accept what Pipecat's services send and ask for at 8 kHz: 16-bit PCM to the
AssemblyAI fake (``required_params`` with ``encoding=pcm_s16le``), ``pcm_8000`` from the
ElevenLabs fake's WebSocket (``formats``): :func:`pipecat_fakes` starts them so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sipgw.app.evaluation.fakes.assemblyai import FakeAssemblyAI
from sipgw.app.evaluation.fakes.elevenlabs import FakeElevenLabs
from sipgw.app.evaluation.fakes.openai import FakeOpenAI
from sipgw.app.evaluation.fakes.services import KEYS, FakeServices, reply_responder
from sipgw.app.evaluation.ports import free_port

__all__ = ["PIPECAT_VERSION", "PipecatBot", "pipecat_fakes", "pipecat_python", "running_bot"]

PIPECAT_VERSION = "1.14.0"
"""The ``pipecat-ai`` release the bot is tested with (scripts/test installs it)."""
BOT = Path(__file__).resolve().parents[2] / "interop" / "apps" / "pipecat_twilio_bot.py"
"""The bot: it imports pipecat-ai and FastAPI, which are not ours (so not in the toolkit)."""
TRANSCRIPT = "What are your opening hours?"
REPLY = "We are open from nine to five."


def pipecat_python() -> Path:
    """The Python of Pipecat's venv.

    Raises:
        RuntimeError: no such venv (the message says how to make it).
    """
    venv = Path(
        os.environ.get("SIPGW_PIPECAT_VENV")
        or Path.home() / ".cache" / f"sipgw-pipecat-{PIPECAT_VERSION}"
    )
    python = venv / "bin" / "python"
    if not python.exists():
        raise RuntimeError(
            f"no pipecat-ai venv at {venv}: scripts/test makes it (python3 -m venv {venv} && "
            f"{venv}/bin/pip install 'pipecat-ai[websocket,openai,elevenlabs,assemblyai]=="
            f"{PIPECAT_VERSION}' uvicorn)"
        )
    return python


@asynccontextmanager
async def pipecat_fakes(
    transcript: str = TRANSCRIPT, reply: str = REPLY
) -> AsyncIterator[FakeServices]:
    """The three fakes on the running loop, speaking Pipecat's 8 kHz formats."""
    stt = FakeAssemblyAI(
        api_key=KEYS["ASSEMBLYAI_API_KEY"], default_transcript=transcript,
        required_params={"speech_model": "u3-rt-pro", "encoding": "pcm_s16le",
                         "sample_rate": "8000"},
        check_rate=False,
    )  # fmt: skip
    llm = FakeOpenAI(api_key=KEYS["OPENAI_API_KEY"])
    llm.responder = reply_responder(reply, 0.05)
    tts = FakeElevenLabs(api_key=KEYS["ELEVENLABS_API_KEY"], speed=1.5,
                         formats=("ulaw_8000", "pcm_8000"))  # fmt: skip
    await stt.start()
    await llm.start()
    await tts.start()
    services = FakeServices(stt, llm, tts)
    try:
        yield services
    finally:
        await services.aclose()


@dataclass
class PipecatBot:
    """The running bot: its webhook and its stream's URLs."""

    port: int
    process: asyncio.subprocess.Process

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/twiml"

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@asynccontextmanager
async def running_bot(
    fakes: FakeServices,
    log: Path,
    twilio_api: dict[str, str] | None = None,
    turns: str = "assemblyai",
) -> AsyncIterator[PipecatBot]:
    """Start the bot (its log in ``log``) until it says ``ready``; stop it after.

    ``twilio_api``: ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``, ``TWILIO_API_BASE_URL``
    for Pipecat's auto hang-up (none: off). ``turns``: who ends the caller's turns,
    ``assemblyai`` (its own detection) or ``pipecat`` (Pipecat's defaults: its VAD and
    smart-turn model, the STT forced to finalize; the bot's ``BOT_TURNS``).
    """
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""),
        **KEYS, "ASSEMBLYAI_URL": fakes.stt.url, "OPENAI_BASE_URL": fakes.llm.base_url,
        "ELEVENLABS_URL": fakes.tts.base_url.replace("http://", "ws://"),
        "BOT_STREAM_URL": f"ws://127.0.0.1:{port}/ws", "BOT_TURNS": turns,
        **(twilio_api or {}),
    }  # fmt: skip
    out = log.open("wb")
    process = await asyncio.create_subprocess_exec(
        str(pipecat_python()), str(BOT), str(port), env=env, stdout=asyncio.subprocess.PIPE,
        stderr=out,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        try:
            async with asyncio.timeout(60.0):
                line = await process.stdout.readline()
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            raise RuntimeError(f"Pipecat's bot did not start: see {log}")
        yield PipecatBot(port, process)
    finally:
        if process.returncode is None:
            process.terminate()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10.0):
                    await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        out.close()
        print(f"(Pipecat's bot log: {log})", file=sys.stderr)
