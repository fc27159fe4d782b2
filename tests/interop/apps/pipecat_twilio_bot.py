"""Pipecat's Twilio bot, as its Twilio example is built: run with ``pipecat-ai``'s own venv.

A FastAPI app served by uvicorn: ``POST /twiml`` is the number's voice webhook and answers
``<Connect><Stream url="...">`` to its ``/ws``; ``/ws`` is the Media Stream, read by
Pipecat's ``parse_telephony_websocket`` and carried by ``FastAPIWebsocketTransport`` with
``TwilioFrameSerializer``; the pipeline is STT (AssemblyAI, its own turn detection), the
context aggregators, LLM (OpenAI), TTS (ElevenLabs), all at 8 kHz. Nothing here is ours but
the wiring from the environment: each service's base URL points at the project's local fakes
(``tests/toolkit/apps/pipecat_app.py`` starts this with them). Imports nothing of ours: it runs
under another interpreter (``PIPECAT_PYTHON``), so it is not type-checked with the suite.

Environment: ``BOT_STREAM_URL`` (the ``<Stream url>``), ``ASSEMBLYAI_API_KEY``,
``ASSEMBLYAI_URL``, ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``ELEVENLABS_API_KEY``,
``ELEVENLABS_URL``, and for Pipecat's auto hang-up through Twilio's REST API (a gateway's
REST subset: docs/twilio-api.md) ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``,
``TWILIO_API_BASE_URL``; ``BOT_TURNS``: ``assemblyai`` (the default: AssemblyAI's own turn
detection, ``vad_force_turn_endpoint=False``) or ``pipecat`` (Pipecat's defaults, as its
Twilio example: Silero VAD in the user aggregator, the default turn strategies with the
packaged smart-turn v3 model, the STT forced to finalize when the VAD stops).
Usage: ``python pipecat_twilio_bot.py PORT``; prints ``ready`` once
it listens.
"""
# mypy: ignore-errors

from __future__ import annotations

import asyncio
import os
import sys
from xml.sax.saxutils import quoteattr

import uvicorn
from fastapi import FastAPI, WebSocket
from fastapi.responses import Response
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.assemblyai.stt import AssemblyAISTTService
from pipecat.services.elevenlabs.tts import ElevenLabsTTSService
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

SYSTEM = "You are a helpful assistant on a phone call. Keep your answers short."
app = FastAPI()


@app.post("/twiml")
async def twiml() -> Response:
    """The voice webhook: stream the call to ``/ws``."""
    url = quoteattr(os.environ["BOT_STREAM_URL"])
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url={url}>'
        '</Stream></Connect><Pause length="40"/></Response>'
    )
    return Response(content=body, media_type="application/xml")


@app.websocket("/ws")
async def media_stream(websocket: WebSocket) -> None:
    """One call's Media Stream through Pipecat's pipeline."""
    await websocket.accept()
    _, call_data = await parse_telephony_websocket(websocket)
    api_base = os.environ.get("TWILIO_API_BASE_URL")
    serializer = TwilioFrameSerializer(
        stream_sid=call_data["stream_id"],
        call_sid=call_data["call_id"],
        account_sid=os.environ.get("TWILIO_ACCOUNT_SID"),
        auth_token=os.environ.get("TWILIO_AUTH_TOKEN"),
        base_url=api_base,
        params=TwilioFrameSerializer.InputParams(auto_hang_up=bool(api_base)),
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
        ),
    )
    pipecat_turns = os.environ.get("BOT_TURNS", "assemblyai") == "pipecat"
    stt = AssemblyAISTTService(
        api_key=os.environ["ASSEMBLYAI_API_KEY"],
        api_endpoint_base_url=os.environ["ASSEMBLYAI_URL"],
        vad_force_turn_endpoint=pipecat_turns,
        settings=AssemblyAISTTService.Settings(model="u3-rt-pro"),
    )
    llm = OpenAILLMService(
        api_key=os.environ["OPENAI_API_KEY"],
        base_url=os.environ["OPENAI_BASE_URL"],
        settings=OpenAILLMService.Settings(model="gpt-4o-mini"),
    )
    tts = ElevenLabsTTSService(
        api_key=os.environ["ELEVENLABS_API_KEY"],
        url=os.environ["ELEVENLABS_URL"],
        settings=ElevenLabsTTSService.Settings(voice="v", model="eleven_flash_v2_5"),
    )
    context = LLMContext([{"role": "system", "content": SYSTEM}])
    user_params = None
    if pipecat_turns:
        user_params = LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
    aggregators = LLMContextAggregatorPair(context, user_params=user_params)
    pipeline = Pipeline(
        [
            transport.input(),
            stt,
            aggregators.user(),
            llm,
            tts,
            transport.output(),
            aggregators.assistant(),
        ]
    )
    task = PipelineTask(
        pipeline, params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000)
    )

    @transport.event_handler("on_client_connected")
    async def greet(transport, client):
        context.add_message({"role": "system", "content": "Say hello to the caller."})
        await task.queue_frames([LLMRunFrame()])

    @transport.event_handler("on_client_disconnected")
    async def gone(transport, client):
        await task.cancel()

    await PipelineRunner(handle_sigint=False).run(task)


async def main(port: int) -> None:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.02)
    print("ready", flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
