"""deepear: multi-task audio sensing (scene, emotion, stress, speaker) for small devices.

Rebuilds DeepEar (UbiComp 2015) and DeepX (IPSN 2016). See README.md.
"""
from deepear.audio.config import FrontEndConfig, SilenceConfig, VoicingConfig
from deepear.audio.io import load_audio
from deepear.errors import AudioError, ConfigError, DataError, DeepearError

__version__ = "0.1.0"
__all__ = ["AudioError", "ConfigError", "DataError", "DeepearError", "FrontEndConfig", "SilenceConfig",
           "VoicingConfig", "load_audio", "__version__", "Pipeline", "Stream", "Event", "Microphone", "FileSource"]

# The runtime (onnxruntime) is imported on first use, so `import deepear` stays light.
_RUNTIME = ("Pipeline", "Stream", "Event", "Microphone", "FileSource")


def __getattr__(name: str):
    if name in _RUNTIME:
        import deepear.runtime as _rt

        return getattr(_rt, name)
    raise AttributeError(f"module 'deepear' has no attribute {name!r}")
