"""Chunks keep their BM25 length, so a store's BM25 avg_len can follow its real mean.

Rows written before this revision keep NULL and are left out of the mean; their store keeps the
avg_len it had until files with lengths arrive.

Revision ID: 0003
Revises: 0002
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('chunks') as batch:
        batch.add_column(sa.Column('bm25_length', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('chunks') as batch:
        batch.drop_column('bm25_length')
