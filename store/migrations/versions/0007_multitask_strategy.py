"""assistants carry the default multitask strategy of their runs (what a new run does while another is active)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 03:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assistants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('multitask_strategy', sa.String(length=16), server_default='reject', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('assistants', schema=None) as batch_op:
        batch_op.drop_column('multitask_strategy')
