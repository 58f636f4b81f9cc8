"""Run ``galfriday`` commands in-process (``main(argv)``) against a test bus, for CLI tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from actors.cli.main import main
from schemas import GalFridayConfig

__all__ = ["galfriday", "write_config"]


def write_config(directory: Path, config: GalFridayConfig, **sections: dict[str, object]) -> Path:
    """A config file pointing at ``config``'s bus, with extra ``sections`` merged in."""
    document: dict[str, dict[str, object]] = {
        "nats": {"url": config.nats.url, "subject_root": config.nats.subject_root},
    }
    for name, values in sections.items():
        document.setdefault(name, {}).update(values)
    path = directory / "gf.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def galfriday(*argv: str | Path) -> int:
    return main([str(arg) for arg in argv])
