"""Rules and labels that services and the read side both need: below both, so that
``queries/`` never imports ``services/``. A rule here may read reference rows (settings,
plans, a card) but never writes."""
