"""The composition root: builds every adapter from the settings, once per process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from anchoring.anchor_store import AnchorStore
from anchoring.crypto import Cipher
from anchoring.log import EvidenceLog
from anchoring.producers import ProducerRegistry
from anchoring.store import LogStore
from service.db import make_engine, migrate
from service.lending import LENIENT
from service.logkey import load_master_keys, log_signer_for
from service.settings import Settings


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    store: LogStore
    log: EvidenceLog
    anchors: AnchorStore
    clock: Callable[[], datetime]


def open_store(settings: Settings, engine: Engine) -> LogStore:
    """The log store with the configured cipher (for commands that read the database)."""
    cipher = (Cipher(load_master_keys(settings.resolved_master_key_file, create=False))
              if settings.encrypt_at_rest and settings.resolved_master_key_file.exists() else None)
    return LogStore(engine, cipher)


def build_context(settings: Settings, clock: Callable[[], datetime] = utc_now) -> AppContext:
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    cipher = (Cipher(load_master_keys(settings.resolved_master_key_file))
              if settings.encrypt_at_rest else None)
    store = LogStore(engine, cipher)
    signer = log_signer_for(settings)  # a key file, or a key in a PKCS#11 token

    log = EvidenceLog(store, signer, settings.log_origin, clock=clock,
                      max_future_skew=timedelta(seconds=settings.max_future_skew),
                      policy=LENIENT,  # validates each payload and its intrinsic rules
                      producers=ProducerRegistry(engine))
    return AppContext(settings, engine, store, log, AnchorStore(engine), clock)
