"""Conversation items: keyed by (conversation, item id), ordered by position.

Item ids are the items' own (a client may choose them), so they are unique per conversation
only; `position` keeps the order. The table held nothing before this revision (the runtime that
writes it arrives with it), so it is made anew.

Revision ID: 0002
Revises: 0001
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_index(op.f('ix_conversation_items_conversation_id'), table_name='conversation_items')
    op.drop_table('conversation_items')
    op.create_table('conversation_items',
    sa.Column('conversation_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('item', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('conversation_id', 'id')
    )
    op.create_index('ix_conversation_items_position', 'conversation_items', ['conversation_id', 'position'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_conversation_items_position', table_name='conversation_items')
    op.drop_table('conversation_items')
    op.create_table('conversation_items',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('conversation_id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('item', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_conversation_items_conversation_id'), 'conversation_items', ['conversation_id'], unique=False)
