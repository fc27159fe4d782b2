"""The caller's voice, sans-IO: voice detectors, the noise suppressor and the turn model.

The energy detector (``vad``), the Silero model detector (``model_vad`` on ``silero``,
``silero_math`` and the weights of ``silero_weights``), the room's level under the agent's
audio (``room_loudness``, ``low_band``), RNNoise (``denoise``) and the audio turn model
(``turn_model`` over ``turn_tail``).
"""
