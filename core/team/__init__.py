"""People and what they may do: ``people`` (who is asking), ``accounts`` (passwords), ``tokens`` (API tokens),
``roles`` (admins, members, viewers), ``gate`` (who the dashboard's sign-in lets in, for the other ways in),
``throttle`` (slowing repeated failures), and ``shared`` (names, ratings, collections and the vocabulary a team
shares)."""
