"""The finishing stage after the join: narration (TTS), subtitles, a music bed with loudness
normalisation, delivery exports, a poster image, and clean-up of intermediate files.

It runs on any completed job, as often as the user likes, and never renders video again:
the joined video is kept, every finished file is a new version (``finished_v1.mp4``, …).

Modules: ``narration`` (word budgets), ``tts`` (speech providers), ``subtitles`` (cue
timing, SRT/WebVTT), ``ffmpeg`` (running the bundled ffmpeg with progress), ``mix``
(music bed, ducking, EBU R128), ``export`` (delivery presets, poster), ``clean``
(intermediate files), ``stage`` (the job-level orchestration used by the CLI and TUI).
Nothing here imports textual or rich.
"""
