"""risk scores (API.md §12, RULES.md §11)

Two new tables, nothing altered: risk_scores, one row per institution per Shanghai day
(UNIQUE institution_id, day: a second run the same day overwrites; the daily run prunes rows
older than 400 days), indexed by (day, score) for the ranked list; and risk_runs, one row per
scoring. Plain CREATE TABLEs on both backends.

Revision ID: 34b60a3bc5cf
Revises: 179a959bfc7c
Create Date: 2026-12-03 13:08:15.430942

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import supervision.models.base


# revision identifiers, used by Alembic.
revision: str = '34b60a3bc5cf'
down_revision: Union[str, Sequence[str], None] = '179a959bfc7c'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('risk_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('computed_at', supervision.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('institutions_scored', sa.Integer(), nullable=False),
    sa.Column('actor', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_runs'))
    )
    op.create_table('risk_scores',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('institution_id', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('factors', sa.JSON(), nullable=False),
    sa.Column('computed_at', supervision.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("level in ('low', 'medium', 'high')", name=op.f('ck_risk_scores_level')),
    sa.CheckConstraint('score >= 0 and score <= 100', name=op.f('ck_risk_scores_score_range')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_risk_scores_institution_id_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_scores')),
    sa.UniqueConstraint('institution_id', 'day', name=op.f('uq_risk_scores_institution_id_day'))
    )
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.create_index('ix_risk_scores_day_score', ['day', 'score'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('risk_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_scores_day_score')

    op.drop_table('risk_scores')
    op.drop_table('risk_runs')
