"""The bytes container files hold over time, for the usage and costs APIs.

Revision ID: 0007
Revises: 0006
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'container_ledger',
        sa.Column('id', sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('at', sa.BigInteger(), nullable=False),
        sa.Column('delta_bytes', sa.BigInteger(), nullable=False),
        sa.Column('bytes_after', sa.BigInteger(), nullable=False),
        sa.Column('reason', sa.String(32), nullable=False),
        sa.Column('container_id', sa.String(64), nullable=False),
    )
    op.create_index('ix_container_ledger_container_at', 'container_ledger', ['container_id', 'at'], unique=False)
    op.create_index('ix_container_ledger_project_at', 'container_ledger', ['project_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_table('container_ledger')
