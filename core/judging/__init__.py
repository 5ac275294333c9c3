"""A team's judgements: ``review`` (blind ratings), ``sweep`` and ``abtest`` (grids of settings and votes;
``contact_sheet`` draws them), ``preferences`` (votes as a dataset), ``factors`` (what makes a good image: the
Insights page), ``judgements`` (ratings as Insights reads them), and the methods: ``statistics``, ``agreement``."""
