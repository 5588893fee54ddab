"""Curation: the raw zone's documents into the cleaned zone's tables (and, later, the marts).

``sources`` reads the landed documents (manifests say which, and how: encoding, compression,
the request) into one frame of strings per table; ``staging`` types, checks, protects and
deduplicates them (pure DataFrame functions, the same on Glue and locally); ``publish`` merges
them into the table's partitions; ``jobs`` runs it per table and remembers what it has done.
"""
