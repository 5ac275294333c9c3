"""What every command group of ``python -m core`` shares: who is asking (``--as NAME``, else the local user) and
whether their role allows it."""

from __future__ import annotations

from . import roles
from .people import Person, check_name, local_person
from .team import remember_person


def person_of(args, settings, store, action: str | None = None) -> Person:
    """``--as NAME`` (a member unless the roles list them), else the local user (an admin unless the roles say
    otherwise); remembered so others see the name. With ``action``, refused unless their role allows it."""
    if getattr(args, "person", None) is None:
        person, default = local_person(settings.user), roles.ADMIN
    else:
        name = check_name(args.person, "name")
        person, default = Person(name, name), roles.MEMBER
    person = roles.role_for(Person(person.id, person.name, source="cli"), settings.admins, settings.viewers,
                            default=default)
    if action is not None:
        roles.require(store, person, action)
    remember_person(store, person)
    return person
