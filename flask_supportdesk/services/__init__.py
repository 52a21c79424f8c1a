"""Domain logic of the desk. Knows nothing of HTTP, forms or sockets.

Each public function takes an :class:`~flask_supportdesk.Actor` and typed values, asks
:mod:`~flask_supportdesk.policy`, writes in one transaction and sends signals after commit.

- :mod:`.tickets`: open, update (status, priority, ...), close, follow-up
- :mod:`.messages`: reply, internal note, edit with history, read a thread
- :mod:`.attachments`: validate uploads (sniffed type, size, count), open for download
- :mod:`.escalation`: one level up, and beyond the top through a hook
- :mod:`.departments`: store owners manage departments
- :mod:`.listing`: portal and desk lists, counters, search (index-served, paginated)
- :mod:`.timeline`: the append-only event log of a ticket
- :mod:`.notifications`: the outbox: who hears what, delivery with retries
"""
