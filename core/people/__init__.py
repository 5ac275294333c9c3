"""Who is asking, as plain values: ``person`` (a :class:`Person`, names and emails folded one way, the local user)
and ``roles`` (admins, members and viewers, and what each may do). No store, no settings: every layer above may
ask who someone is and whether they may act; the store records a refusal (:func:`core.history.audit.require`)."""
