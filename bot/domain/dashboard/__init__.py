"""The merchant dashboard's numbers (Go Social), pure: facts in, privacy-safe tables and charts out.

``facts`` holds what the database knows of one campaign (plain records keyed by opaque member
keys); ``periods`` the fixed calendar periods; ``metrics`` and ``comparison`` compute every number
as a table of cells that still know their members; ``privacy`` suppresses what covers fewer than k
members (and whatever would let it be worked out); ``report`` is the only way out: tables of
values without a single member key, headline cards, JSON and CSV shapes; ``charts`` the SVG
geometry of the report's charts. ``definitions`` holds the one-line definition of every number.
"""
