"""The stored generations: ``store`` (one write path over SQLite), ``migrations`` (the schema's versions),
``columns`` (a generation's columns, described once), ``paths`` (files under the data folder), ``query`` (History's
filters and sorts), ``pngmeta`` and ``provenance`` (what a PNG says of itself), ``export``; and what guards them:
``trash``, ``backup``, ``audit``, ``disk``."""
