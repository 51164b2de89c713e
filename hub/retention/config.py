"""How long the hub keeps each kind of personal record (``retention`` in the hub config; SECURITY.md)."""

from pydantic import BaseModel, ConfigDict, Field


class RetentionConfig(BaseModel):
    """Periods in days, counted from each record's own time; ``hub purge`` (hub-purge.timer) deletes older ones.

    Attendance (punches) is not here: payroll and audits need it for years and
    it is not biometric. Enrolment photos keep their own setting
    (``enrolment.photo_retention_days``) and kiosk health samples theirs
    (``health.history_days``); ``hub purge`` applies those too.
    """

    model_config = ConfigDict(extra="forbid")

    audit_days: int = Field(
        1095, ge=30, description="audit log entries (admin actions, reads and exports of personal data, logins, "
        "erasures) are kept this long")
    login_failures_days: int = Field(
        30, ge=1, description="failed dashboard logins (user name tried, client address); the login limits only "
        "look back auth.failure_window_s")
    phone_refusals_days: int = Field(
        180, ge=1, description="refused phone requests (who, step, reason, address, reported position)")
    phone_frame_hashes_days: int = Field(
        400, ge=30, description="SHA-256 of the frames of accepted phone punches (a replay guard: the same bytes are "
        "never accepted twice); older frames cannot pass the nonce and liveness checks anyway")
    rejected_messages_days: int = Field(
        180, ge=1, description="MQTT messages the hub refused, kept for audit with their first bytes")
    consent_days: int = Field(
        1095, ge=1, description="consent records of people who withdrew consent (and were erased), counted from the "
        "withdrawal: the evidence that the hub acted on it")
