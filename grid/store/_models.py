"""Trained source models in the run's storage, shared by every run that needs the same model."""
from __future__ import annotations

import io

from paragrid.errors import UserError
from paragrid.grid.store._storage import Storage


class ModelStore:
    """Trained source models under `<storage>/source-models/<key>/`.

    model.pt holds the weights AND the training record (test UAR per fold, classes, ...) in one
    file, so the two always belong together even if two runs race to store the same key;
    meta.json (written last) is a human-readable copy whose existence marks the entry complete.
    """

    def __init__(self, storage: Storage):
        self.storage = storage

    def has(self, key: str) -> bool:
        return self.storage.exists("source-models", key, "meta.json")

    def save(self, key: str, model, meta: dict) -> None:
        import torch  # heavy: torch

        d = model.to_dict()
        d["meta"] = {**d.get("meta", {}), "paragrid_source": meta}
        buf = io.BytesIO()
        torch.save(d, buf)
        self.storage.write_bytes(buf.getvalue(), "source-models", key, "model.pt")
        self.storage.write_json(meta, "source-models", key, "meta.json")

    def load(self, key: str, device: str = "cpu"):
        """(StackedModel on `device`, its training record)."""
        import torch  # heavy: torch

        from paragrid.models.nets import StackedModel  # heavy: torch

        if not self.has(key):
            raise UserError(f"source model {key} is missing from {self.storage.uri('source-models')}; "
                            "re-run the grid to train it")
        raw = self.storage.read_bytes("source-models", key, "model.pt")
        model = StackedModel.from_dict(torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True))
        return model.to(device), model.meta["paragrid_source"]

