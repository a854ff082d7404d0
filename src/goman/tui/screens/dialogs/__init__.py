"""Modal dialogs: create, scale, upgrade, stop, delete, kubeconfig, and the quit warning."""

from goman.tui.screens.dialogs.create import CreateDialog, CreateRequest
from goman.tui.screens.dialogs.day2 import StopDialog, UpgradeDialog
from goman.tui.screens.dialogs.delete import DeleteDialog
from goman.tui.screens.dialogs.kubeconfig import KubeconfigDialog, KubeconfigRequest
from goman.tui.screens.dialogs.quit import ConfirmQuit
from goman.tui.screens.dialogs.scale import ScaleDialog

__all__ = [
    "ConfirmQuit",
    "CreateDialog",
    "CreateRequest",
    "DeleteDialog",
    "KubeconfigDialog",
    "KubeconfigRequest",
    "ScaleDialog",
    "StopDialog",
    "UpgradeDialog",
]
