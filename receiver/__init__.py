"""amtriage: classify Alertmanager notifications and forward them annotated."""

__version__ = "0.1.0"
