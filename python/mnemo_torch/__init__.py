"""mnemo_torch: PyTorch twins of mnemo's Memformer and ∞-former that read and write mnemo model
files (docs/pytorch.md). Needs only torch (Debian's python3-torch is enough)."""
from .continuous_memory import BasisConfig, ContinuousMemoryConfig, ContinuousState
from .infinite_former import InfiniteFormer, InfiniteFormerConfig, InfiniteFormerState
from .memformer import Memformer, MemformerConfig
from .model_file import load_mnemo, load_mnemo_state_dict, mnemo_gradients, mnemo_state_dict, save_mnemo
from .safetensors_io import read_safetensors, write_safetensors

__all__ = [
    "BasisConfig", "ContinuousMemoryConfig", "ContinuousState", "InfiniteFormer", "InfiniteFormerConfig",
    "InfiniteFormerState", "Memformer", "MemformerConfig", "load_mnemo", "load_mnemo_state_dict",
    "mnemo_gradients", "mnemo_state_dict", "read_safetensors", "save_mnemo", "write_safetensors",
]
