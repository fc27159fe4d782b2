"""Pipecat's packaged smart-turn v3 on samples of the turn set; run by Pipecat's venv's python.

    ~/.cache/sipgw-pipecat-1.14.0/bin/python bench/smart_turn_runner.py IN.jsonl OUT.jsonl

Not imported by sipgw (it imports Pipecat): :mod:`bench.turn_model` writes IN, one JSON
object a line (``key``, ``ulaw``: the sample's 8 kHz μ-law in base64, the words and the
200 ms pause after them), and reads OUT (``key``, ``probability``, ``cpu_ms``: the
process CPU time of the prediction alone). Each sample goes as a Twilio call brings it
into a Pipecat pipeline: μ-law at 8 kHz decoded and resampled to 16 kHz by Pipecat's own
Twilio serializer path (``ulaw_to_pcm`` with its stream resampler, in 20 ms chunks; the
resampler's clearing after 200 ms of wall-clock idleness is off, since a call's chunks
never pause that long and a busy machine's would, differently on every run),
then handed whole to ``LocalSmartTurnAnalyzerV3`` (the ``smart-turn-v3.2-cpu.onnx``
that ships in the pipecat-ai wheel, one CPU thread), the audio its ``_predict_endpoint``
would get from the turn's start to the voice detector's stop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from typing import Any


async def _to_16k(ulaw: bytes) -> Any:
    import numpy as np
    from pipecat.audio.utils import (  # type: ignore[import-not-found]  # Pipecat's venv
        create_stream_resampler,
        ulaw_to_pcm,
    )

    resampler = create_stream_resampler(clear_after_secs=None)  # 20 ms chunks: never idle
    chunks = []
    for i in range(0, len(ulaw), 160):
        chunks.append(await ulaw_to_pcm(ulaw[i : i + 160], 8000, 16000, resampler))
    pcm = np.frombuffer(b"".join(chunks), dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0


def main(argv: list[str]) -> int:
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import (  # type: ignore[import-not-found]
        LocalSmartTurnAnalyzerV3,
    )

    analyzer = LocalSmartTurnAnalyzerV3(cpu_count=1)
    analyzer.set_sample_rate(16000)
    with open(argv[1]) as src, open(argv[2], "w") as out:
        for raw in src:
            item = json.loads(raw)
            audio = asyncio.run(_to_16k(base64.b64decode(item["ulaw"])))
            start = time.process_time()
            result = analyzer._predict_endpoint(audio)
            cpu_ms = (time.process_time() - start) * 1000
            row = {"key": item["key"], "probability": result["probability"], "cpu_ms": cpu_ms}
            out.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
