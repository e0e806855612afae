"""complaints, tip-offs and reviews (API.md §10-11)

Four new tables, nothing altered: complaints with their deadlines (respond_by, due_on: the
COMPLAINT_* rules scan status and date), the institutions' responses, the public's tip-offs
(reference unique and unguessable; contact kept out of the audit copies by the model) and one
review per enrollment (UNIQUE enrollment_id, stars 1..5). Plain CREATE TABLEs on both backends.

Revision ID: 179a959bfc7c
Revises: 4e2b7262d89f
Create Date: 2026-12-03 12:33:25.951796

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import supervision.models.base


# revision identifiers, used by Alembic.
revision: str = '179a959bfc7c'
down_revision: Union[str, Sequence[str], None] = '4e2b7262d89f'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('tips',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('reference', sa.String(length=32), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('description', sa.String(length=2000), nullable=False),
    sa.Column('contact', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('note', sa.String(length=2000), nullable=True),
    sa.Column('institution_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', supervision.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', supervision.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'closed') = (outcome is not null)", name=op.f('ck_tips_closed_has_outcome')),
    sa.CheckConstraint("outcome is null or outcome in ('confirmed', 'unfounded')", name=op.f('ck_tips_outcome')),
    sa.CheckConstraint("status in ('submitted', 'investigating', 'closed')", name=op.f('ck_tips_status')),
    sa.CheckConstraint('length(reference) >= 16', name=op.f('ck_tips_reference_length')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_tips_institution_id_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tips')),
    sa.UniqueConstraint('reference', name=op.f('uq_tips_reference'))
    )
    with op.batch_alter_table('tips', schema=None) as batch_op:
        batch_op.create_index('ix_tips_district_code_status', ['district_code', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_tips_institution_id'), ['institution_id'], unique=False)

    op.create_table('complaints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('institution_id', sa.BigInteger(), nullable=False),
    sa.Column('enrollment_id', sa.BigInteger(), nullable=True),
    sa.Column('parent_id', sa.BigInteger(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('text', sa.String(length=2000), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('respond_by', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('created_at', supervision.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('note', sa.String(length=2000), nullable=True),
    sa.Column('closed_at', supervision.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("(status = 'closed') = (outcome is not null and closed_at is not null)", name=op.f('ck_complaints_closed_has_outcome')),
    sa.CheckConstraint("category in ('refund', 'fees', 'teaching', 'safety', 'other')", name=op.f('ck_complaints_category')),
    sa.CheckConstraint("outcome is null or outcome in ('upheld', 'rejected', 'mediated')", name=op.f('ck_complaints_outcome')),
    sa.CheckConstraint("status in ('submitted', 'responded', 'closed')", name=op.f('ck_complaints_status')),
    sa.CheckConstraint('due_on >= respond_by', name=op.f('ck_complaints_due_after_respond')),
    sa.ForeignKeyConstraint(['closed_by'], ['principals.id'], name=op.f('fk_complaints_closed_by_principals')),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], name=op.f('fk_complaints_enrollment_id_enrollments')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_complaints_institution_id_institutions')),
    sa.ForeignKeyConstraint(['parent_id'], ['principals.id'], name=op.f('fk_complaints_parent_id_principals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaints'))
    )
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaints_enrollment_id'), ['enrollment_id'], unique=False)
        batch_op.create_index('ix_complaints_institution_id_created_at', ['institution_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index('ix_complaints_status_respond_by', ['status', 'respond_by'], unique=False)

    op.create_table('reviews',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('enrollment_id', sa.BigInteger(), nullable=False),
    sa.Column('institution_id', sa.BigInteger(), nullable=False),
    sa.Column('parent_id', sa.BigInteger(), nullable=False),
    sa.Column('stars', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=1000), nullable=False),
    sa.Column('created_at', supervision.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('stars >= 1 and stars <= 5', name=op.f('ck_reviews_stars_range')),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], name=op.f('fk_reviews_enrollment_id_enrollments')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_reviews_institution_id_institutions')),
    sa.ForeignKeyConstraint(['parent_id'], ['principals.id'], name=op.f('fk_reviews_parent_id_principals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews')),
    sa.UniqueConstraint('enrollment_id', name=op.f('uq_reviews_enrollment_id'))
    )
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.create_index('ix_reviews_institution_id_created_at', ['institution_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_reviews_parent_id'), ['parent_id'], unique=False)

    op.create_table('complaint_responses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('complaint_id', sa.BigInteger(), nullable=False),
    sa.Column('institution_id', sa.BigInteger(), nullable=False),
    sa.Column('principal_id', sa.BigInteger(), nullable=True),
    sa.Column('text', sa.String(length=2000), nullable=False),
    sa.Column('at', supervision.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'], name=op.f('fk_complaint_responses_complaint_id_complaints')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_complaint_responses_institution_id_institutions')),
    sa.ForeignKeyConstraint(['principal_id'], ['principals.id'], name=op.f('fk_complaint_responses_principal_id_principals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_responses'))
    )
    with op.batch_alter_table('complaint_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaint_responses_complaint_id'), ['complaint_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('complaint_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaint_responses_complaint_id'))

    op.drop_table('complaint_responses')
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reviews_parent_id'))
        batch_op.drop_index('ix_reviews_institution_id_created_at')

    op.drop_table('reviews')
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index('ix_complaints_status_respond_by')
        batch_op.drop_index(batch_op.f('ix_complaints_parent_id'))
        batch_op.drop_index('ix_complaints_institution_id_created_at')
        batch_op.drop_index(batch_op.f('ix_complaints_enrollment_id'))

    op.drop_table('complaints')
    with op.batch_alter_table('tips', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tips_institution_id'))
        batch_op.drop_index('ix_tips_district_code_status')

    op.drop_table('tips')
