"""Running generations: ``pipeline`` tells one generation's whole story (decode, hear, prompt, paint, keep it
in the history), ``hearing`` transcribes a recording and guards its doubted words, ``jobs`` is the fair queue in SQLite, ``worker`` runs its jobs in a thread, ``executors`` chooses that
worker or ``cluster``'s Ray actors, ``upkeep`` embeds and maps new images when the queue is quiet, and ``progress``
holds a running job's live previews."""
