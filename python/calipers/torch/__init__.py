"""Optional torch implementations (differentiable losses, GPU fits).

torch is not a dependency of calipers: import this subpackage only where torch is installed.
Each capability with a torch path adds one module here (``calipers.torch.<capability>``).
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "calipers.torch needs PyTorch; install it with `pip install torch` "
        "(or `pip install calipers[torch]`)"
    ) from exc

from . import irt  # noqa: E402,F401
