"""The team, kept in the store: ``accounts`` (personal passwords), ``tokens`` (API tokens), ``sessions`` (a
browser's sign-in, kept across reloads), ``gate`` (who the dashboard's sign-in lets in, for the other ways in),
``throttle`` (slowing repeated failures), and ``shared`` (names, ratings, collections and the vocabulary a team
shares). Who a person is and what a role may do are plain values below the store (:mod:`core.people`)."""
