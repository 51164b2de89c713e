"""encrypt face templates at rest (AES-GCM, key in template_key_file)

No schema change: face_templates.encoding stays a binary column. Every plain
512-byte encoding is sealed with the engine's template key
(hub/enrolment/template_cipher.py); rows already sealed are left alone, so
the upgrade can be repeated after a crash. The key comes from the engine
the migration runs on (hub.db.make_engine registers it): a database with
templates cannot be upgraded without one. Downgrade opens them again.

The cipher module is imported here on purpose: the stored format is its
version 1, which that module keeps reading for as long as it exists.

Revision ID: f9c0ed729400
Revises: a3c9e5d1f207
Create Date: 2026-12-04 02:40:00
"""

from alembic import op
import sqlalchemy as sa

from hub.enrolment import template_cipher


revision = 'f9c0ed729400'
down_revision = 'a3c9e5d1f207'
branch_labels = None
depends_on = None

templates = sa.table('face_templates', sa.column('id', sa.Integer), sa.column('encoding', sa.LargeBinary))


def _rewrite(convert) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(templates.c.id, templates.c.encoding)).all()
    if not rows:
        return
    cipher = template_cipher.for_dialect(bind.dialect)
    for row_id, blob in rows:
        new = convert(cipher, bytes(blob))
        if new is not None:
            bind.execute(templates.update().where(templates.c.id == row_id).values(encoding=new))


def upgrade() -> None:
    _rewrite(lambda cipher, blob: None if template_cipher.is_sealed(blob) else cipher.seal(blob))


def downgrade() -> None:
    _rewrite(lambda cipher, blob: cipher.open(blob) if template_cipher.is_sealed(blob) else None)
