"""People and what they may do: ``people`` (who is asking), ``accounts`` (passwords), ``tokens`` (API tokens),
``roles`` (admins, members, viewers), ``throttle`` (slowing repeated failures), and ``shared`` (names, ratings,
collections and the vocabulary a team shares)."""
