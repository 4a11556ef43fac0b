"""The Ray session both `paragrid run` and `paragrid tune` use: start or attach, fit the spec's
per-unit resources to what the cluster offers, and say so in one line when it cannot.

Why one module: a run and a tuning session meet the same cluster with the same mistakes (an
address nobody listens on, more GPUs per unit than a node has), so they get the same answers.
"""
from __future__ import annotations

import socket as sock
from contextlib import contextmanager
from dataclasses import dataclass

from paragrid.errors import UserError
from paragrid.grid.console._output import configure_ray_logging, ray_init_kwargs
from paragrid.grid.spec import Spec


@dataclass(frozen=True)
class Slots:
    """The per-unit resource request fitted to the cluster, and how many units fit at once."""

    cpu: float
    gpu: float
    count: int

    @property
    def request(self) -> dict[str, float]:
        return {"cpu": self.cpu, "gpu": self.gpu}



@contextmanager
def ray_session(address: str | None, verbose: bool, say, captured: bool = False):
    """A Ray connection for the run; started and shut down here unless one already exists.
    `captured`: Ray's console output goes to the run's log file (paragrid.grid.console)."""
    configure_ray_logging(verbose, captured=captured)
    import ray  # heavy: ray

    if ray.is_initialized():
        yield ray
        return
    kwargs = ray_init_kwargs(verbose, captured)
    where = address or "a local Ray instance"
    if verbose:
        say(f"starting Ray ({where})")
    probe(address)
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as err:
        msg = " ".join(str(err).split())[:300]
        raise UserError(f"cannot start or reach Ray at {where}: {msg}; for --address use 'auto' "
                        "on a cluster node, 'HOST:6379' or 'ray://HOST:10001'") from None
    try:
        yield ray
    finally:
        ray.shutdown()



def probe(address: str | None) -> None:
    """Fail in seconds, not minutes of Ray's retries, when nothing listens at HOST:PORT."""
    if not address or address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address!r}: expected 'auto', 'HOST:PORT' or 'ray://HOST:PORT'")
    try:
        with sock.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as err:
        raise UserError(f"no Ray cluster answers at {address} ({err.strerror or err}); start one "
                        "with `ray start --head` (or `ray up cluster.yaml`) or check the address") from None



def fit_resources(s: Spec, ray, say) -> Slots:
    """The per-unit resource request, fitted to the cluster."""
    cpu, gpu = s.resources.cpu, s.resources.gpu
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if gpu and not any(n.get("GPU", 0) for n in nodes):
        say(f"note: the spec asks for gpu: {gpu} per trial but the Ray cluster has no GPU; "
            "running on CPU instead")
        gpu = 0
    if not any(n.get("CPU", 0) >= cpu for n in nodes):
        raise UserError(f"spec {s.origin}: resources.cpu = {cpu} per trial, but no Ray node has that many "
                        f"CPUs (largest: {max((n.get('CPU', 0) for n in nodes), default=0):g}); lower it")
    if gpu and not any(n.get("GPU", 0) >= gpu for n in nodes):
        raise UserError(f"spec {s.origin}: resources.gpu = {gpu} per trial, but no Ray node has that "
                        "many GPUs; lower it")
    slots = 0
    for n in nodes:
        fit = int(n.get("CPU", 0) // cpu)
        if gpu:
            fit = min(fit, int(round(n.get("GPU", 0) / gpu, 6)))
        slots += fit
    return Slots(cpu=cpu, gpu=gpu, count=max(1, slots))

