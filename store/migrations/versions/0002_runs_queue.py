"""runs queue: async-run claims, retries and webhooks; thread run leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_model', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('claim_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('not_before', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('started_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('webhook_status', sa.String(length=16), server_default='none', nullable=False))
        batch_op.add_column(sa.Column('webhook_attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('webhook_next_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('webhook_error', sa.Text(), nullable=True))
        batch_op.create_index('ix_runs_status_claim_expires', ['status', 'claim_expires_at'], unique=False)
        batch_op.create_index('ix_runs_webhook_due', ['webhook_status', 'webhook_next_at'], unique=False)

    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_run_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # No table rebuild on SQLite: threads is referenced by foreign keys (ALTER TABLE DROP COLUMN suffices).
    with op.batch_alter_table('threads', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('lease_run_id')

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_webhook_due')
        batch_op.drop_index('ix_runs_status_claim_expires')
        batch_op.drop_column('webhook_error')
        batch_op.drop_column('webhook_next_at')
        batch_op.drop_column('webhook_attempts')
        batch_op.drop_column('webhook_status')
        batch_op.drop_column('finished_at')
        batch_op.drop_column('started_at')
        batch_op.drop_column('not_before')
        batch_op.drop_column('attempts')
        batch_op.drop_column('claim_expires_at')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('metadata')
        batch_op.drop_column('requested_model')
