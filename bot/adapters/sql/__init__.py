"""The SQL adapter: tables, one repository per group of tables, the unit of work, the portal's
store and read models, and a dry run's scratch ledger.

Each table has exactly one repository module that writes it (tests/integration/test_sql_owners.py
holds the list); other modules may read it. ``toolkit`` holds the bulk-write and look-up helpers.
"""
