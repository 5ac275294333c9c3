"""The stored generations: ``store`` (one write path over SQLite), ``migrations`` (the schema's versions), ``paths``
(files under the data folder), ``rows`` (the row a generation writes), ``query`` (History's filters and sorts),
``pngmeta`` and ``provenance`` (what a PNG says of itself), ``export``; and what guards them: ``trash``, ``backup``,
``audit``, ``disk``."""
