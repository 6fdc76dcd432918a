"""Sources and their versioned privacy notices; subjects as keyed pseudonyms."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from disgorge.catalog.schema import Asset, Notice, Source, Subject
from disgorge.catalog.sql import rows_where_in
from disgorge.catalog.store import StoreBase
from disgorge.errors import NotFoundError


@dataclass(frozen=True, slots=True)
class SourceInfo:
    id: int
    name: str
    controller: str | None
    legal_basis: str | None
    categories: tuple[str, ...]
    notice_id: int
    notice_version: int
    notice_sha256: str
    uses: tuple[str, ...]
    recipients: tuple[str, ...]


def _info(src: Source, notice: Notice) -> SourceInfo:
    return SourceInfo(
        src.id,
        src.name,
        src.controller,
        src.legal_basis,
        tuple(src.categories),
        notice.id,
        notice.version,
        notice.text_sha256,
        tuple(notice.uses),
        tuple(notice.recipients),
    )


class SourcesMixin(StoreBase):
    def add_source(
        self,
        name: str,
        *,
        notice_sha256: str,
        uses: Sequence[str],
        recipients: Sequence[str],
        categories: Sequence[str],
        controller: str | None = None,
        legal_basis: str | None = None,
        effective_from: datetime | None = None,
    ) -> tuple[SourceInfo, bool]:
        """Register a source, or a new notice version when the notice or its terms changed.

        Returns the source with its current notice, and whether anything was written.
        """
        with self.session() as s:
            src = s.scalar(select(Source).where(Source.name == name))
            if src is None:
                src = Source(
                    name=name, controller=controller, legal_basis=legal_basis, categories=sorted(categories)
                )
                s.add(src)
                s.flush()
            latest = self._latest_notice(s, src.id)
            terms = (notice_sha256, sorted(uses), sorted(recipients))
            if latest is not None and (latest.text_sha256, latest.uses, latest.recipients) == terms:
                return _info(src, latest), False
            notice = Notice(
                source_id=src.id,
                version=(latest.version + 1) if latest else 1,
                text_sha256=notice_sha256,
                uses=sorted(uses),
                recipients=sorted(recipients),
                effective_from=effective_from,
            )
            s.add(notice)
            if categories:
                src.categories = sorted(categories)
            s.flush()
            self._log(
                s,
                "source",
                {
                    "source": name,
                    "notice_version": notice.version,
                    "notice_sha256": notice_sha256,
                    "uses": sorted(uses),
                    "recipients": sorted(recipients),
                    "legal_basis": legal_basis,
                },
            )
            return _info(src, notice), True

    @staticmethod
    def _latest_notice(s: Session, source_id: int) -> Notice | None:
        return s.scalar(
            select(Notice).where(Notice.source_id == source_id).order_by(Notice.version.desc()).limit(1)
        )

    def get_source(self, name: str) -> SourceInfo:
        with self.session() as s:
            src = s.scalar(select(Source).where(Source.name == name))
            notice = self._latest_notice(s, src.id) if src else None
            if src is None or notice is None:
                known = ", ".join(s.scalars(select(Source.name).order_by(Source.name))) or "none"
                raise NotFoundError(
                    f"source {name!r} is not in the catalog (known: {known})",
                    hint="register it with: disgorge source add NAME --notice FILE --uses ...",
                )
            return _info(src, notice)

    def list_sources(self) -> list[SourceInfo]:
        with self.session() as s:
            out = []
            for src in s.scalars(select(Source).order_by(Source.name)):
                notice = self._latest_notice(s, src.id)
                if notice is not None:
                    out.append(_info(src, notice))
            return out

    def subject_ids(
        self, s: Session, pseudonyms: Iterable[str], *, existing: dict[str, int] | None = None
    ) -> dict[str, int]:
        """Map pseudonyms to subject row ids, creating the missing ones in the caller's transaction.
        ``existing``: what the caller already looked up for all of ``pseudonyms`` in this transaction."""
        items = sorted(set(pseudonyms))
        if existing is None:
            found = dict(rows_where_in(s, [Subject.pseudonym, Subject.id], Subject.pseudonym, items))
        else:
            found = {p: existing[p] for p in items if p in existing}
        missing = [p for p in items if p not in found]
        if missing:
            table = cast(Table, Subject.__table__)
            found.update(
                s.connection()
                .execute(
                    insert(table).returning(table.c.pseudonym, table.c.id),
                    [{"pseudonym": p} for p in missing],
                )
                .all()
            )
        return found

    def subject_id(self, external_id: str) -> int:
        """The row id of a subject named by its external id; NotFoundError when never ingested."""
        pseudonym = self.hasher.subject(external_id)
        with self.session() as s:
            sid = s.scalar(select(Subject.id).where(Subject.pseudonym == pseudonym))
            unknown = (
                0
                if sid is not None
                else s.scalar(select(func.count(Asset.id)).where(Asset.subject_id.is_(None)))
            )
        if sid is None:
            hint = "subject ids are matched exactly, after trimming spaces, under this home's key"
            if unknown:
                hint += (
                    f"; {unknown} assets in the catalog have no known subject and may include this "
                    "subject's (see disgorge impact --source NAME)"
                )
            raise NotFoundError("no asset of this subject is in the catalog", hint=hint)
        return sid
