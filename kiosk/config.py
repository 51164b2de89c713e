"""Kiosk configuration (YAML), validated on load. See ``kiosk check-config``."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hardware.indicators import IndicatorsConfig
from i18n.catalogue import available_languages
from kiosk.clock import ClockConfig
from kiosk.decision import DecisionConfig
from kiosk.fallback import MatchConfig
from kiosk.liveness import LivenessConfig
from kiosk.logspill import LogsConfig
from kiosk.pipeline import PipelineConfig
from kiosk.quality import QualityConfig
from kiosk.screen.config import ScreenConfig
from kiosk.selfheal import HealConfig
from kiosk.voice.config import VoiceConfig
from protocol.messages import DeviceId, EntityId
from protocol.transport import AllowPlaintext, CaFile


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttConfig(Section):
    host: str = Field("127.0.0.1", description="broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="broker port")
    username: str | None = Field(None, description="MQTT user; defaults to the device_id")
    password_file: Path | None = Field(None, description="file holding the MQTT password")
    allow_plaintext: AllowPlaintext = False  # before ca_file, whose check reads it
    ca_file: CaFile = None
    cert_file: Path | None = Field(None, description="TLS client certificate, for a broker that requires one")
    key_file: Path | None = Field(None, description="private key of cert_file")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive in seconds")
    reconnect_max_s: float = Field(60.0, gt=0, description="cap of the reconnect backoff")
    ack_timeout_s: float = Field(30.0, gt=0, description="resend a punch not acked by the hub after this long")
    inflight_max: int = Field(100, ge=1, description="punches published but not yet acked, at most")


class IrCameraConfig(Section):
    """The IR camera beside the colour one, for ``liveness.ir`` (hardware/ir_camera.py, hardware/README.md)."""

    kind: Literal["none", "replay", "opencv", "picamera2"] = Field(
        "none", description="none: no IR camera; picamera2: a NoIR Camera Module on another CSI port; opencv: a "
        "USB IR camera; replay: a folder of IR images or a video (a bench, the tests)")
    path: Path | None = Field(None, description="replay: a folder of IR images or a video file")
    camera_num: int = Field(1, ge=0, description="picamera2: the NoIR camera's number (1: the Pi 5's second port)")
    device: int = Field(1, ge=0, description="opencv: V4L2 index of the IR camera")
    width: int = Field(640, ge=64, description="IR capture width in pixels")
    height: int = Field(480, ge=48, description="IR capture height in pixels")
    max_skew_s: float = Field(
        0.1, gt=0, description="an IR frame further than this in time from its colour frame is not used")


class CameraConfig(Section):
    kind: Literal["replay", "opencv", "picamera2"] = Field("replay", description="frame source backend")
    path: Path | None = Field(None, description="replay: a folder of images or a video file")
    fps: float = Field(10.0, gt=0, description="frames per second to deliver (replay paces to this)")
    repeat: int = Field(1, ge=1, description="replay: times each still image is shown, as a person standing")
    loop: bool = Field(False, description="replay: start again at the end instead of stopping")
    device: int = Field(0, ge=0, description="opencv: V4L2 camera index")
    width: int = Field(640, ge=64, description="capture width in pixels")
    height: int = Field(480, ge=48, description="capture height in pixels")
    ir: IrCameraConfig = Field(default_factory=IrCameraConfig,
                               description="an IR camera beside this one (optional; for liveness.ir)")


class RecognitionConfig(Section):
    accept_distance: float = Field(
        0.46, gt=0, lt=2,
        description="accept a match only under this score: the distance to the person's mean template, normalised "
                    "for how many photos it averages (BENCHMARKS-accuracy-calib.md)")
    min_margin: float = Field(0.08, ge=0, description="best must beat the second-best identity by this much")
    detect_upsample: int = Field(1, ge=0, le=3, description="HOG detector upsampling (finds smaller faces)")
    repunch_suppress_s: float = Field(300.0, ge=0, description="ignore the same person again within this time")


class StorageConfig(Section):
    min_free_mb: float = Field(
        16.0, ge=0,
        description="refuse new punches (on screen, light and sound) below this much free space in state_dir, "
                    "so acks, the seq mark and health can still be written")
    reserve_mb: float = Field(
        4.0, ge=0,
        description="a file of this size kept in state_dir and deleted when the disk is full, so the kiosk "
                    "can still open its outbox and report; made again once space returns")


class GalleryConfig(Section):
    """Where the key of the encrypted gallery cache comes from (kiosk/gallery_key.py, SECURITY.md)."""

    key_source: Literal["hub", "card"] = Field(
        "hub",
        description="hub: the hub sends the key at every start and it is held in memory only, so a stolen card "
        "does not open the gallery, but a kiosk that boots while the hub is unreachable recognises nobody until it "
        "answers; card: derived from the device key on the card, so the kiosk boots offline, and whoever holds "
        "the card can read every template in the cache",
    )


class UpdateConfig(Section):
    """Signed software updates (kiosk/updater.py, kiosk/slots.py): where releases come from and who signs them."""

    release_key: str | None = Field(
        None, description="the offline release key's public half (base64 Ed25519, from `provision release keygen`), "
        "written onto the card; null: this kiosk refuses every update")
    hub_url: str | None = Field(None, description="the hub's HTTPS base URL the releases are downloaded from")
    ca_file: Path | None = Field(
        None, description="CA certificate (PEM) the hub's HTTPS certificate is checked against; null: the system's")
    root: Path = Field(Path("/opt/kiosk"), description="holds versions/<version> (one virtualenv each) and the "
                       "`current` symlink kiosk.service starts")
    python: Path = Field(Path("/usr/bin/python3"), description="interpreter the virtualenv of a new version is made "
                         "with (--system-site-packages: dlib, numpy, OpenCV come from the OS)")
    base_site_dirs: list[Path] = Field(
        default_factory=list, description="extra site-packages folders every new version sees beside the system's "
        "(normally none)")
    confirm_after_s: float = Field(
        120.0, gt=0, description="a new version that has run this long, connected and reporting health, is kept")
    trial_s: float = Field(
        600.0, gt=0, description="a new version not kept within this long after it was installed is rolled back")
    max_starts: int = Field(3, ge=1, le=20, description="starts of a new version without being kept, before it is "
                            "rolled back")
    keep_versions: int = Field(2, ge=2, le=5, description="versions kept on the card (the running one and the "
                               "previous, at least)")
    download_timeout_s: float = Field(120.0, gt=0, description="per request to the hub")


ENV_PREFIX = "KIOSK"  # KIOSK__MQTT__HOST=hub.example overrides mqtt.host (protocol/settings.py)


class KioskConfig(Section):
    device_id: DeviceId = Field(description="this kiosk's id; also its MQTT username")
    site_id: EntityId = Field(description="the duty site this kiosk stands at")
    state_dir: Path = Field(Path("/var/lib/kiosk"), description="outbox database and gallery cache")
    signing_key_file: Path = Field(description="Ed25519 private key (PEM) made at provisioning")
    timezone: str = Field("Asia/Kolkata", description="IANA zone for the punch's device time")
    health_interval_s: float = Field(60.0, gt=0, description="seconds between health messages to the hub")
    gallery_poll_s: float = Field(
        300.0, gt=0, description="seconds between asking the hub whether the site's gallery changed"
    )
    gallery: GalleryConfig = Field(default_factory=GalleryConfig, description="the gallery cache's key")
    display: bool = Field(True, description="show the kiosk screen (camera, name, In/Out, time, reasons); see screen")
    languages: list[str] = Field(["hi", "en"], min_length=1,
                                 description="the site's languages for screen and voice, first shown largest")
    screen: ScreenConfig = Field(default_factory=ScreenConfig, description="the kiosk screen")
    voice: VoiceConfig = Field(default_factory=VoiceConfig, description="spoken prompts and results")
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    camera: CameraConfig = Field(default_factory=CameraConfig)
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    liveness: LivenessConfig = Field(default_factory=LivenessConfig)
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    match: MatchConfig = Field(default_factory=MatchConfig, description="face alone, or staff number and face")
    storage: StorageConfig = Field(default_factory=StorageConfig)
    clock: ClockConfig = Field(default_factory=ClockConfig)
    heal: HealConfig = Field(default_factory=HealConfig, description="what the kiosk cures by itself (camera, disk, "
                             "clock, link); kiosk/selfheal.py")
    logs: LogsConfig = Field(default_factory=LogsConfig, description="warnings kept on disk, bounded (kiosk/logspill.py)")
    update: UpdateConfig = Field(default_factory=UpdateConfig, description="signed software updates from the hub")
    indicators: IndicatorsConfig | None = Field(
        None, description="GPIO LEDs/buzzer/door relay (BCM pins); null: no indicators (a bench or a test)"
    )

    @model_validator(mode="after")
    def _ir_frames_for_the_ir_check(self) -> "KioskConfig":
        """The IR check needs an IR camera; without one it would pass nobody."""
        if self.liveness.ir.enabled and self.camera.ir.kind == "none":
            raise ValueError("liveness.ir.enabled needs an IR camera: set camera.ir.kind (hardware/README.md)")
        if self.camera.ir.kind == "replay" and self.camera.ir.path is None:
            raise ValueError("camera.ir.kind replay needs camera.ir.path (a folder of IR images or a video)")
        return self

    @model_validator(mode="after")
    def _keypad_for_the_number(self) -> "KioskConfig":
        """A mode that asks for the staff number needs a keypad to type it on."""
        if self.match.mode != "identify" and self.match.keypad.kind == "none":
            raise ValueError(f"match.mode {self.match.mode} asks for staff numbers: set match.keypad.kind")
        if self.match.keypad.kind == "evdev" and self.match.keypad.device is None:
            raise ValueError("match.keypad.kind evdev needs match.keypad.device")
        return self

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        unknown = [lang for lang in value if lang not in available_languages()]
        if unknown:
            raise ValueError(f"no catalogue for {', '.join(unknown)} (have {', '.join(available_languages())})")
        return value
