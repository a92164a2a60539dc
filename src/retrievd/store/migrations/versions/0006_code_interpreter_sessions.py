"""code_interpreter sessions, counted for the usage and costs APIs.

Revision ID: 0006
Revises: 0005
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'code_interpreter_sessions',
        sa.Column('id', sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('container_id', sa.String(64), nullable=False),
        sa.Column('started_at', sa.BigInteger(), nullable=False),
        sa.Column('last_active_at', sa.BigInteger(), nullable=False),
        sa.Column('ended_at', sa.BigInteger(), nullable=True),
    )
    op.create_index(
        'ix_code_interpreter_sessions_project_started',
        'code_interpreter_sessions',
        ['project_id', 'started_at'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table('code_interpreter_sessions')
