"""What a person sees while `paragrid run` or `paragrid tune` works, and the Ray session both
use: status lines and durations, the ETA, Ray's own output kept in the run's log.

Exports: StatusLine (the lines and the live status line of run and tune), fmt_duration,
EtaEstimator, EtaSettings, Forecast, unit_work; ray_output_to, configure_ray_logging,
ray_init_kwargs, RAY_LOGGERS; ray_session, fit_resources, Slots.
"""

from paragrid.grid.console._eta import EtaEstimator, EtaSettings, Forecast, fmt_duration, unit_work
from paragrid.grid.console._output import RAY_LOGGERS, configure_ray_logging, ray_init_kwargs, ray_output_to
from paragrid.grid.console._ray import Slots, fit_resources, ray_session
from paragrid.grid.console._status import StatusLine

__all__ = [
    "StatusLine",
    "EtaEstimator", "EtaSettings", "Forecast", "fmt_duration", "unit_work", "RAY_LOGGERS",
    "configure_ray_logging", "ray_init_kwargs", "ray_output_to", "Slots", "fit_resources",
    "ray_session"
]
