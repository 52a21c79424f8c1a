"""Departments, managed by store owners (the top staff role)."""

from __future__ import annotations

import re
import typing as t
import unicodedata

import sqlalchemy as sa

from .. import events
from .. import policy
from .._state import get_state
from ..errors import NotFound
from ..errors import ValidationError
from ..i18n import gettext as _
from ..models import Department
from ..values import Actor
from . import _validate
from ._uow import transaction

# Matched with fullmatch: "$" would also accept a trailing newline.
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


def slugify(name: str) -> str:
    """A URL slug from a department name: ASCII letters, digits and hyphens, at most 64."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64].strip("-")


def list_departments(*, include_inactive: bool = False) -> list[Department]:
    """The departments by name; inactive ones only on request (the owner's list)."""
    stmt = sa.select(Department).order_by(Department.name)
    if not include_inactive:
        stmt = stmt.where(Department.is_active)
    return list(get_state().db.session.scalars(stmt))


class DepartmentChoice(t.NamedTuple):
    """A department as the desk's lists name and offer it."""

    id: int
    slug: str
    name: str
    is_active: bool


def department_choices(*, changed_at: float | None = None) -> tuple[DepartmentChoice, ...]:
    """Every department by name, inactive ones too, for the desk list's filters, bulk
    form and rows.

    Kept for ``SUPPORTDESK_COUNTERS_MAX_AGE`` seconds per process, like the counters: a
    department changed through the desk in this process is read again at once, one
    changed in another process (or in the host's database directly) shows within those
    seconds, and ``changed_at`` (when the viewer last changed something) keeps their
    own change from being hidden by another process's older copy.
    """
    state = get_state()

    def read() -> tuple[DepartmentChoice, ...]:
        columns = (Department.id, Department.slug, Department.name, Department.is_active)
        rows = state.db.session.execute(sa.select(*columns).order_by(Department.name))
        return tuple(DepartmentChoice(*row) for row in rows)

    return t.cast(
        "tuple[DepartmentChoice, ...]",
        state.departments.get(read, max_age=state.config.counters_max_age, changed_at=changed_at),
    )


def forget_departments(changes: t.Sequence[events.DomainEvent]) -> None:
    """After commit: a department changed, so the kept list is read again (this process)."""
    if any(isinstance(event, events.DepartmentChanged) for event in changes):
        get_state().departments.clear()


def get_department(department_id: t.Any) -> Department:
    """The department with this id (active or not).

    :param department_id: An ``int`` or a string of digits.
    :raises NotFound: no such department (or an id no row can have).
    """
    department_id = _validate.object_id(department_id, "Department")
    department = get_state().db.session.get(Department, department_id)
    if department is None:
        raise NotFound(_("Department not found."))
    return department


def _name(value: t.Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(fields={"name": _("Required.")})
    name = value.strip()
    if len(name) > 120 or not name.isprintable():
        raise ValidationError(fields={"name": _("At most 120 printable characters.")})
    return _validate.no_deceptive(value, "name")


def _description(value: t.Any) -> str:
    value = "" if value is None else value
    if not isinstance(value, str) or len(value) > 1000:
        raise ValidationError(fields={"description": _("At most 1000 characters.")})
    return _validate.storable(value, "description").strip()


def create_department(
    actor: Actor, *, name: t.Any, slug: t.Any = None, description: t.Any = ""
) -> Department:
    """Create a department.

    :raises Forbidden: the actor is not a store owner.
    :raises ValidationError: a missing name, or a slug that is invalid or taken.
    """
    policy.require_manage_departments(actor)
    name = _name(name)
    slug = slugify(name) if slug in (None, "") else str(slug)
    if not _SLUG.fullmatch(slug):
        raise ValidationError(fields={"slug": _("Lowercase letters, digits and dashes.")})
    description = _description(description)
    with transaction() as uow:
        session = get_state().db.session
        if session.scalar(sa.select(Department.id).where(Department.slug == slug)):
            raise ValidationError(fields={"slug": _("Another department has this slug.")})
        department = Department(name=name, slug=slug, description=description)
        session.add(department)
        uow.record(events.DepartmentChanged(actor, department))
    return department


def update_department(
    actor: Actor,
    department_id: t.Any,
    *,
    name: t.Any,
    description: t.Any = "",
    is_active: bool = True,
) -> Department:
    """Rename, describe, or (de)activate a department. Its slug never changes.

    An inactive department keeps its tickets but is no longer offered for new ones.
    """
    policy.require_manage_departments(actor)
    name = _name(name)
    description = _description(description)
    with transaction() as uow:
        department = get_department(department_id)
        department.name = name
        department.description = description
        department.is_active = bool(is_active)
        uow.record(events.DepartmentChanged(actor, department))
    return department
