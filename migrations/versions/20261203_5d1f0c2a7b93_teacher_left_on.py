"""teachers.left_on: the day a teacher left the institution (离职)

A nullable date: existing teachers stay current. The risk factor "teachers who left in the
last 30 days" counts it, and a session may not be scheduled with a teacher who left before
the session's day (the registry service checks both bounds, so no CHECK constraint: adding
one would make SQLite rebuild a table that other tables reference). On both backends a plain
ADD COLUMN.

Revision ID: 5d1f0c2a7b93
Revises: 34b60a3bc5cf
Create Date: 2026-12-03 15:20:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '5d1f0c2a7b93'
down_revision: Union[str, Sequence[str], None] = '34b60a3bc5cf'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('teachers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('left_on', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('teachers', schema=None) as batch_op:
        batch_op.drop_column('left_on')
