"""Models for the demo and the tests, kept out of the algorithm's package: the two real CPU demo models
set up from their PyPI part packages (``parts``, ``models``) and two tiny random-weight models
(``tiny``), all under one cache folder (``cache``)."""
