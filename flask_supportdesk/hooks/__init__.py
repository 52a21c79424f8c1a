"""The desk's plugin system: pluggy hooks through which the host answers the desk.

A plugin is any object (a module, a class instance) with functions marked
``@hookimpl`` whose names are hooks of :mod:`flask_supportdesk.hooks.specs`::

    from flask_supportdesk import Actor, hookimpl

    class StorePlugin:
        @hookimpl
        def supportdesk_load_user(self, user_id):
            user = db.session.get(User, int(user_id))
            return user and Actor(user.id, user.name, user.email, user.staff_role)

    desk = SupportDesk(app, db=db, plugins=[StorePlugin()])

Plugins are also loaded from the ``flask_supportdesk`` entry-point group::

    [project.entry-points.flask_supportdesk]
    mystore = "mystore.support_plugin"
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "supportdesk"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a function as an implementation of a desk hook."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a function as a hook specification (used by :mod:`.specs`)."""

ENTRY_POINT_GROUP = "flask_supportdesk"
