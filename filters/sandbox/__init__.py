"""Running model-written programs in isolation (bubblewrap, seccomp, rlimits, one uid per slot)."""

from cotfactory.filters.sandbox.bwrap import Sandbox, SandboxUnavailable
from cotfactory.filters.sandbox.limits import Limits
from cotfactory.filters.sandbox.process import ProcessResult

__all__ = ["Limits", "ProcessResult", "Sandbox", "SandboxUnavailable"]
