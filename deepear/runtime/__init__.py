"""deepear runtime: load an exported bundle and run it on clips and live streams. numpy + onnxruntime only.

    from deepear.runtime import Pipeline, FileSource, Microphone
    p = Pipeline.load("exported/deepear-4task")
    p.predict_file("clip.flac")["scene"].label
    for ev in p.stream(Microphone()): print(ev.task, ev.label, ev.probability)

Never imports torch (nor deepear.model / deepx / experiment): see docs/runtime.md.
"""
from deepear.runtime.bundle import Bundle, BundleError, load_bundle
from deepear.runtime.events import Event, StreamState
from deepear.runtime.pipeline import Pipeline, Prediction, TaskResult
from deepear.runtime.sources import ArraySource, FileSource, Microphone, MicrophoneError, as_source
from deepear.runtime.stream import Stream

__all__ = ["ArraySource", "Bundle", "BundleError", "Event", "FileSource", "Microphone", "MicrophoneError",
           "Pipeline", "Prediction", "Stream", "StreamState", "TaskResult", "as_source", "load_bundle"]
