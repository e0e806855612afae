"""principal revocation and expiry; server-side console sessions

Tokens could neither be revoked nor expire, and a console cookie stayed valid after signing
out. principals gains revoked_at and expires_at (nullable: existing principals stay valid);
console_sessions holds one row per signed-in browser, so sign-out and revocation end it at once.
On SQLite the two nullable columns are plain ADD COLUMNs (batch mode does not rebuild the table).

Revision ID: 4e2b7262d89f
Revises: 8a938a51eb7e
Create Date: 2026-12-03 11:57:17.587235

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import supervision.models.base


# revision identifiers, used by Alembic.
revision: str = '4e2b7262d89f'
down_revision: Union[str, Sequence[str], None] = '8a938a51eb7e'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('console_sessions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('principal_id', sa.BigInteger(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', supervision.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', supervision.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', supervision.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['principal_id'], ['principals.id'], name=op.f('fk_console_sessions_principal_id_principals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_sessions')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_console_sessions_key_hash'))
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_sessions_principal_id'), ['principal_id'], unique=False)

    with op.batch_alter_table('principals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', supervision.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('expires_at', supervision.models.base.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('principals', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('revoked_at')

    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_sessions_principal_id'))

    op.drop_table('console_sessions')
