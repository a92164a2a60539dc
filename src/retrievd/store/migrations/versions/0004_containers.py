"""Containers for code_interpreter, and their files.

Revision ID: 0004
Revises: 0003
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'containers',
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('name', sa.String(256), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('last_active_at', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('expires_after_minutes', sa.Integer(), nullable=False),
        sa.Column('memory_limit', sa.String(8), nullable=False),
    )
    op.create_index(op.f('ix_containers_project_id'), 'containers', ['project_id'], unique=False)
    op.create_table(
        'container_files',
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column(
            'container_id', sa.String(64), sa.ForeignKey('containers.id', ondelete='CASCADE'), nullable=False
        ),
        sa.Column('project_id', sa.String(64), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('path', sa.String(1024), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('source', sa.String(16), nullable=False),
    )
    op.create_index(op.f('ix_container_files_container_id'), 'container_files', ['container_id'], unique=False)


def downgrade() -> None:
    op.drop_table('container_files')
    op.drop_table('containers')
