"""Hub configuration (YAML), validated on load. See ``hub check-config``."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, model_validator

from biometrics.face_quality import DEFAULT_LIMITS as FACE_LIMITS
from hub.attendance.config import RegularisationConfig
from hub.delivery.config import DeliveryConfig
from hub.hrms.config import HrmsConfig
from hub.ingest.plausibility import Policy
from hub.phone.config import PhoneConfig
from hub.reports.config import AttendanceConfig, ExportConfig
from hub.retention.config import RetentionConfig
from protocol.transport import AllowPlaintext, CaFile


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttConfig(Section):
    host: str = Field("127.0.0.1", description="broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="broker port")
    username: str | None = Field(None, description="the hub's MQTT user")
    password_file: Path | None = Field(None, description="file holding the hub's MQTT password")
    allow_plaintext: AllowPlaintext = False  # before ca_file, whose check reads it
    ca_file: CaFile = None
    cert_file: Path | None = Field(None, description="TLS client certificate, for a broker that requires one")
    key_file: Path | None = Field(None, description="private key of cert_file")
    client_id: str = Field("hub-ingest", description="MQTT client id; unique per ingest worker")
    shared_group: str | None = Field(
        None, description="MQTT v5 shared-subscription group, so several ingest workers split punches"
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive in seconds")
    session_expiry_s: int = Field(
        7 * 24 * 3600,
        ge=0,
        le=0xFFFFFFFF,
        description="how long the broker keeps our session (and queues punches) while the hub is away",
    )
    reconnect_min_s: int = Field(1, ge=1, description="first reconnect delay; doubles on each failure")
    reconnect_max_s: int = Field(60, ge=1, description="cap of the reconnect delay")


class ApiConfig(Section):
    host: str = Field("127.0.0.1", description="address the HTTP API listens on")
    port: int = Field(8080, ge=1, le=65535, description="port the HTTP API listens on")
    tls_cert_file: Path | None = Field(
        None, description="serve HTTPS with this certificate (PEM, with its chain); null: plain HTTP behind a TLS "
        "proxy. Kiosks download releases over HTTPS (kiosk.yaml update.hub_url)")
    tls_key_file: Path | None = Field(None, description="the private key of tls_cert_file")

    @model_validator(mode="after")
    def _cert_and_key(self) -> "ApiConfig":
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("api.tls_cert_file and api.tls_key_file go together")
        return self


class IngestConfig(Section):
    batch_max: int = Field(200, ge=1, le=10_000, description="messages stored in one transaction, at most")
    batch_wait_s: float = Field(
        0.05, ge=0, le=5, description="how long a batch waits for more messages after its first one"
    )
    retry_initial_s: float = Field(0.5, gt=0, description="first wait after a failed commit")
    retry_max_s: float = Field(30.0, gt=0, description="cap of the wait between commit retries")
    receive_max: int = Field(
        1000, ge=1, le=65535,
        description="messages a worker holds waiting, at most (beside the batch it is storing): it asks the "
        "broker for no more (MQTT v5 Receive Maximum) and stops reading when that many wait; the broker keeps "
        "the rest of a backlog",
    )

    @model_validator(mode="after")
    def _window_fits_a_batch(self) -> "IngestConfig":
        if self.receive_max < self.batch_max:
            raise ValueError(f"ingest.receive_max ({self.receive_max}) must be at least ingest.batch_max "
                             f"({self.batch_max}): a batch cannot fill beyond what the broker may send")
        return self


class AuthConfig(Section):
    session_ttl_s: int = Field(8 * 3600, ge=60, description="a login session ends this long after login")
    cookie_secure: bool = Field(
        True, description="send the session cookie over HTTPS only; false only for plain-HTTP tests and demos"
    )
    failure_window_s: int = Field(
        900, ge=10, description="failed logins are counted over this window; a refusal lasts until they age out"
    )
    max_failures_per_user: int = Field(
        5, ge=1, description="failed logins for one user name from one client address before that address is "
        "refused for it (other addresses are only slowed down: security.login_slowdown_after)")
    max_failures_per_address: int = Field(
        20, ge=1, description="failed logins from one client address (any user name) before it is refused"
    )


class EnrolmentConfig(Section):
    photo_dir: Path | None = Field(
        None,
        description="where enrolment photos are kept (only at the hub, never on kiosks); "
        "null: a 'photos' folder next to the SQLite database (required with PostgreSQL)",
    )
    photo_retention_days: int = Field(
        90, ge=1, description="`hub purge` (and `hub purge-photos`) delete kept photos older than this; templates stay"
    )
    max_photo_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="larger uploaded photos are refused")
    # The same measures and default limits as the kiosk's quality gate (biometrics.face_quality).
    min_face_px: int = Field(
        FACE_LIMITS.min_face_px, ge=20,
        description="smallest face height in pixels, measured on the landmarks as the kiosk measures it")
    min_sharpness: float = Field(
        FACE_LIMITS.min_sharpness, ge=0,
        description="variance of the Laplacian of the face crop resized to 128 px high; below: blurred"
    )
    min_brightness: float = Field(FACE_LIMITS.min_brightness, ge=0, le=255,
                                  description="mean grey level of the face; below: too dark")
    max_brightness: float = Field(FACE_LIMITS.max_brightness, ge=0, le=255,
                                  description="mean grey level of the face; above: too bright")
    max_yaw_deg: float = Field(FACE_LIMITS.max_yaw_deg, gt=0, le=90,
                               description="largest head turn (coarse pose from the landmarks)")
    max_pitch_deg: float = Field(FACE_LIMITS.max_pitch_deg, gt=0, le=90,
                                 description="largest head tilt up or down (coarse pose from the landmarks)")


class HealthConfig(Section):
    """Device health at the hub (hub/devices/health.py): when a kiosk counts as stale, how its clock is judged."""

    stale_after_s: float = Field(
        180.0, gt=0, description="a kiosk that says it is online but sent no health for this long is 'stale' "
        "(about 3 x the kiosks' health interval)"
    )
    max_clock_skew_s: float = Field(
        300.0, gt=0, description="a kiosk whose clock (device time minus hub time of its latest health) is off by "
        "more than this either way is flagged, and so are its punches (clock_skew); so is a punch dated more than "
        "this after the hub received it, after allowing for its kiosk's skew"
    )
    history_days: float = Field(7.0, gt=0, description="health samples older than this are deleted")
    history_max_samples: int = Field(
        10_080, ge=10, description="at most this many health samples are kept per kiosk (7 days at one a minute)"
    )


class CommandsConfig(Section):
    """Remote commands to kiosks (hub/devices/commands.py): queued at the hub until the kiosk is online."""

    poll_s: float = Field(
        1.0, gt=0, le=60, description="how often an ingest worker looks for queued commands of online kiosks")
    expire_after_s: float = Field(
        86_400.0, gt=0, description="a command not sent by then (its kiosk stayed offline) expires and is never "
        "sent; a kiosk refuses one that reaches it later")
    enrol_frames: int = Field(5, ge=1, le=10, description="enrol at a kiosk: good frames taken, one template each")
    enrol_consent_s: float = Field(
        5.0, ge=0, le=120, description="enrol at a kiosk: the consent text is shown this long before capture")
    enrol_timeout_s: float = Field(
        60.0, gt=0, le=600, description="enrol at a kiosk: the kiosk gives up without enough good frames by then")


class UpdatesConfig(Section):
    """Signed kiosk releases and their rollout in rings (hub/devices/releases.py, hub/devices/rollout.py)."""

    release_dir: Path = Field(Path("/var/lib/hub/releases"), description="published releases, one folder each")
    release_key: str | None = Field(
        None, description="public release key (base64, `provision release keygen`): `hub release publish` refuses a "
        "release it did not sign (the kiosks check it again); null: not checked at publishing")
    canary_fraction: float = Field(
        0.05, gt=0, lt=1, description="the second ring: this share of the kiosks (the first ring is one kiosk, "
        "the third everyone else)")
    max_failure_fraction: float = Field(
        0.1, ge=0, lt=1, description="a ring where more than this share of kiosks failed (refused the release, "
        "rolled back, or silent past deadline_s) or got worse on it (degraded: ring_health.py) halts the rollout; "
        "in the one-kiosk ring any failure or degradation halts it")
    soak_s: float = Field(
        900.0, ge=0, description="a kiosk counts as updated once it has reported the new version for this long "
        "(longer than the kiosks' update.confirm_after_s, so a rolled-back version is seen)")
    deadline_s: float = Field(
        3600.0, gt=0, description="a kiosk sent the update that has not reported the new version by then failed")
    baseline_samples: int = Field(
        5, ge=1, description="a kiosk's health before the update is the median of its last this many health "
        "messages at the old version (hub/devices/ring_health.py)")
    baseline_window_s: float = Field(
        3600.0, gt=0, description="only health messages received this long before the update was sent make the "
        "baseline; a kiosk with none (offline then) is judged on its version alone")
    min_soak_samples: int = Field(
        3, ge=1, description="a health measure (camera fps, free memory, ...) is judged only when at least this many "
        "of the soak's health messages say it (soak_s over the kiosks' health_interval_s, 60 s by default: 15)")
    camera_fps_drop: float = Field(
        0.3, ge=0, le=1, description="worse: camera fps below the baseline's by more than this share, in most of "
        "the soak's health messages (1: never)")
    mem_free_drop: float = Field(
        0.3, ge=0, le=1, description="worse: free memory below the baseline's by more than this share, in most of "
        "the soak's health messages (1: never)")
    outbox_wait_s: float = Field(
        600.0, gt=0, description="worse: the oldest unacked punch older than the baseline's by more than this while "
        "the kiosk is connected (it sends health only then), in most of the soak's health messages")
    ignored_alarms: list[str] = Field(
        ["update_rolled_back", "assisted_pending"], description="alarm kinds that do not make a kiosk worse when "
        "new after an update: a rollback is judged as a failure; staff-number attempts come from people, not the "
        "release")


class PunchesConfig(Section):
    """What the hub believes of a correctly signed kiosk punch (hub/ingest/plausibility.py): a stolen kiosk key
    signs anything. Refused punches are kept for audit and the kiosk is told why."""

    max_future_s: float = Field(
        600.0, gt=0, description="a punch dated more than this after the hub received it, by the hub's clock and "
        "by its kiosk's measured clock alike, is refused"
    )
    max_backlog_days: float = Field(
        30.0, gt=0, description="a punch made longer than this before the hub received it (the longest a kiosk "
        "may plausibly hold punches offline), by the hub's clock and by its kiosk's measured clock alike, is refused"
    )
    max_match_distance: float = Field(
        0.55, gt=0, description="a punch whose match distance is above this is refused (kiosks ship accepting up "
        "to a score of 0.46 when naming and 0.525 when verifying a typed staff number: this adds a tolerance); a "
        "failed liveness check is always refused"
    )
    site_max_match_distance: dict[str, float] = Field(
        {}, description="site id -> the match distance limit of that site's kiosks, instead of max_match_distance"
    )
    device_max_match_distance: dict[str, float] = Field(
        {}, description="device id -> that kiosk's own match distance limit, instead of its site's"
    )


class MetricsConfig(Section):
    """GET /metrics (Prometheus text format): admins, or a scraper holding ``token_file``'s token."""

    token_file: Path | None = Field(
        None, description="file holding a bearer token that may read /metrics only (for Prometheus); "
        "null: only admins may read it"
    )
    lag_window_s: float = Field(
        300.0, gt=0, description="the ingest-lag gauges cover punches received in this many recent seconds"
    )


class HubConfig(Section):
    database_url: str = Field(
        "sqlite:////var/lib/hub/hub.sqlite", description="SQLAlchemy URL: sqlite:///... or postgresql+psycopg://..."
    )
    sqlite_busy_timeout_ms: int = Field(
        5000, ge=0, description="SQLite only: how long a writer waits for a lock before giving up"
    )
    admin_token_file: Path = Field(description="file holding the bearer token for admin API calls")
    gallery_key_secret_file: Path | None = Field(
        None,
        description="the secret each kiosk's gallery key is derived from (hub/enrolment/gallery_keys.py); made (0600) by "
        "`hub init-db` or at first use when missing; the same file on every hub machine, never in the database; "
        "null: 'gallery-key.secret' beside the SQLite database (required with PostgreSQL)",
    )
    template_key_file: Path | None = Field(
        None,
        description="the AES key face templates are encrypted with in the database (hub/enrolment/template_cipher.py); "
        "made (0600) by `hub init-db` or at first use when missing; the same file on every hub machine, never in the "
        "database, backed up apart from it (without it the templates are lost); null: 'template-key.secret' beside "
        "the SQLite database (required with PostgreSQL)",
    )
    max_payload_bytes: int = Field(64 * 1024, ge=1024, description="punches larger than this are rejected")
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    enrolment: EnrolmentConfig = Field(default_factory=EnrolmentConfig)
    attendance: AttendanceConfig = Field(
        default_factory=AttendanceConfig, description="how days are classified in reports (weekly off, holidays)"
    )
    exports: ExportConfig = Field(
        default_factory=ExportConfig, description="how the muster roll is printed as PDF (fonts, rows per page)"
    )
    delivery: DeliveryConfig = Field(
        default_factory=DeliveryConfig, description="scheduled reports by mail and SMS (`hub deliver ...`)"
    )
    hrms: HrmsConfig = Field(
        default_factory=HrmsConfig, description="punches pushed to Frappe HRMS, Odoo or a webhook (`hub hrms-push`)"
    )
    phone: PhoneConfig = Field(default_factory=PhoneConfig, description="phone fallback punching")
    regularisation: RegularisationConfig = Field(
        default_factory=RegularisationConfig, description="employees' requests to correct a day (phone page), "
        "decided by their unit's officer")
    health: HealthConfig = Field(default_factory=HealthConfig, description="kiosk status, health and clock skew")
    punches: PunchesConfig = Field(
        default_factory=PunchesConfig, description="which signed kiosk punches are refused at intake"
    )
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="the Prometheus endpoint /metrics")
    commands: CommandsConfig = Field(default_factory=CommandsConfig, description="remote commands to kiosks")
    updates: UpdatesConfig = Field(default_factory=UpdatesConfig, description="signed kiosk releases in rings")
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="how long personal records are kept (`hub purge`)")
    security: "SecurityConfig" = Field(
        default_factory=lambda: SecurityConfig(), description="trusted proxies and the login slow-down")

    def plausibility(self) -> Policy:
        """The bounds intake judges kiosk punches by (``hub.ingest.plausibility``)."""
        p = self.punches
        return Policy(self.health.max_clock_skew_s, p.max_future_s, p.max_backlog_days * 86400, p.max_match_distance,
                      p.site_max_match_distance, p.device_max_match_distance)


class SecurityConfig(Section):
    """How the hub treats clients it cannot trust (see SECURITY.md): which proxies may name the real
    client address, and how logins to one account are slowed (not locked) when guessed at from many places."""

    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list, description="addresses or networks (e.g. 127.0.0.1, 10.0.0.0/8) of reverse proxies "
        "whose X-Forwarded-For and X-Forwarded-Proto are believed; from any other peer those headers are ignored"
    )
    login_slowdown_after: int = Field(
        10, ge=1, description="failed logins to one account (from all addresses, within auth.failure_window_s) "
        "after which that account takes one attempt per login_slowdown_s; nobody is locked out"
    )
    login_slowdown_s: float = Field(
        3.0, gt=0, le=60, description="spacing of attempts to an account under attack, seconds (the real user "
        "waits at most this long)"
    )
