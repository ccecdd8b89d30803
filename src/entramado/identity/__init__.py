"""The national person index: one person, one name, one address, across every agency.

``standardise`` and ``mapping`` turn agencies' records into comparable values; ``frame`` holds them as a table with
the comparison keys; ``model`` defines the comparisons once for SQL and Python and the household rules; ``linkage``
and ``training`` score and train (DuckDB, or Splink on Spark via ``spark``); ``cluster`` groups records into persons;
``persons`` keeps their ids across runs; ``golden`` builds each golden record; ``services`` runs batch linkage and
serves persons and the review queue; ``realtime`` and ``realtime_service`` match one record in milliseconds;
``notify`` tells subscribed agencies of changes; ``api`` and ``cli`` are the HTTP and command-line faces;
``synthetic`` generates a Uruguay-like population with the truth; ``evaluate`` measures accuracy against it.
"""
