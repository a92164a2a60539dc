"""Chunks keep the page of their last token too, so a chunk across a page break knows both pages.

Rows written before this revision only knew their first page: they take it as their last.

Revision ID: 0005
Revises: 0004
"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.add_column(sa.Column("page_end", sa.Integer(), nullable=True))
    op.execute("UPDATE chunks SET page_end = page")


def downgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.drop_column("page_end")
