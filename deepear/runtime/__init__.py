"""deepear runtime: load an exported bundle and run it on clips and live streams. numpy + onnxruntime only.

    from deepear.runtime import Pipeline, FileSource, Microphone
    p = Pipeline.load("exported/deepear-4task")
    p.predict_file("clip.flac")["scene"].label
    for ev in p.stream(Microphone()): print(ev.task, ev.label, ev.probability)

Never imports torch (nor deepear.model / deepx / experiment): see docs/runtime.md.
"""
from importlib import import_module

# name -> submodule; imported on first use, so `deepear.runtime.commands` (read by every CLI start) does not
# load onnxruntime and the front end
_EXPORTS = {"Bundle": "bundle", "BundleError": "bundle", "load_bundle": "bundle", "Event": "events",
            "StreamState": "events", "Pipeline": "pipeline", "Prediction": "pipeline", "TaskResult": "pipeline",
            "ArraySource": "sources", "FileSource": "sources", "Microphone": "sources", "MicrophoneError": "sources",
            "as_source": "sources", "Stream": "stream"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"deepear.runtime.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'deepear.runtime' has no attribute {name!r}")
