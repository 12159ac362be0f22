"""Settings, read from the environment (`CUNZHENG_*`) in this one place and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CUNZHENG_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="where the SQLite file, keys and devnet live")
    database_url: str | None = Field(None,
                                     description="SQLAlchemy URL; SQLite under data_dir by default")
    log_origin: str = Field("cunzheng.local/evidence-log", description="the log's origin line")
    log_key_file: Path | None = Field(
        None, description="Ed25519 PEM key; data_dir/log-key.pem by default")
    encrypt_at_rest: bool = Field(True, description="seal record contents and documents (AES-GCM)")
    master_key_file: Path | None = Field(
        None, description="32-byte master key (base64), data_dir/master-key by default; created "
        "with mode 0600 on first start")
    checkpoint_interval: float = Field(1.0, gt=0, description="seconds between checkpoint checks")
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(16 * 1024 * 1024, description="largest JSON body accepted")
    max_document_bytes: int = Field(50 * 1024 * 1024, description="largest document upload")
    max_future_skew: float = Field(
        300.0, ge=0, description="seconds an event's occurred_at may lie after the time the log "
        "receives it (producers' clock error); later is refused")
    chain_rpc: str | None = Field(None, description="Ethereum JSON-RPC URL; the devnet by default")
    devnet_port: int = Field(8545,
                             description="port of the embedded devnet (when chain_rpc is unset)")
    devnet_block_time: float = Field(
        2.0, ge=0,
        description="the embedded devnet mines an empty block this often (confirmations)")
    anchor_enabled: bool = Field(True, description="run the anchoring job in `serve`")
    anchor_interval: float = Field(5.0, gt=0, description="seconds between anchoring rounds")
    anchor_confirmations: int = Field(2, ge=1,
                                      description="confirmations before an anchor is final")
    anchor_drop_after: float = Field(
        60.0, gt=0, description="seconds before an unseen anchoring transaction counts as dropped")
    anchor_key_file: Path | None = Field(
        None, description="hex private key of the anchorer; the devnet's dev account 1 by default")
    # keys in a PKCS#11 token (README, "Keys in a hardware token"); file keys when unset
    log_key_uri: str | None = Field(
        None, repr=False, description="PKCS#11 URI of the log's Ed25519 key "
        "(pkcs11:token=...;object=...?module-path=...); log_key_file when unset")
    package_key_uri: str | None = Field(
        None, repr=False, description="PKCS#11 URI of the package-signing Ed25519 key; "
        "data_dir/package-key.pem when unset")
    anchor_key_uri: str | None = Field(
        None, repr=False, description="PKCS#11 URI of the anchorer's secp256k1 key; "
        "anchor_key_file when unset")
    pkcs11_pin_file: Path | None = Field(
        None, description="file (mode 0600) holding the token's user PIN")
    pkcs11_pin: SecretStr | None = Field(
        None, description="the token's user PIN (prefer pkcs11_pin_file); never logged")
    monitoring_tenants: str = Field(
        "", description="comma-separated tenants the post-loan monitoring job watches")
    monitoring_interval: float = Field(3600.0, gt=0, description="seconds between monitoring runs")
    deployment_file: Path | None = Field(None, description="data_dir/deployment.json by default")
    public_base_url: str | None = Field(None, description="URL used in QR codes and links")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cunzheng.db').resolve()}"

    @property
    def monitoring_tenant_list(self) -> list[str]:
        return [t.strip() for t in self.monitoring_tenants.split(",") if t.strip()]

    @property
    def resolved_deployment_file(self) -> Path:
        return self.deployment_file or self.data_dir / "deployment.json"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master-key"

    @property
    def resolved_log_key_file(self) -> Path:
        return self.log_key_file or self.data_dir / "log-key.pem"
