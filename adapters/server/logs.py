"""The served process's logs: resident ID numbers masked in every line (ADR 21)."""

from __future__ import annotations

import copy
import logging
from typing import Any

from domain.identity import mask_text


class MaskIDs(logging.Filter):
    """A logging filter that masks resident ID numbers in each record's message (and its
    traceback). Put it on handlers: a handler's filters see every record it writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # uvicorn's access formatter unpacks the arguments: mask them one by one.
            record.args = tuple(mask_text(a) if isinstance(a, str) else a for a in record.args)
            if isinstance(record.msg, str):
                record.msg = mask_text(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: leave it to the formatter to report
                return True
            record.msg, record.args = mask_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's logging configuration with `MaskIDs` on every handler, and the API's own
    logger (`benefitpool`) writing through the default handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["mask_ids"] = {"()": f"{__name__}.MaskIDs"}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "mask_ids"]
    config["loggers"]["benefitpool"] = {"handlers": ["default"], "level": level.upper(),
                                        "propagate": False}
    return config
