"""The cooperative's side: a registry of participants' keys, verification, aggregation with
k-anonymity and optional differential privacy, and an HTTP receiver (DESIGN §1).

It never opens a participant's store: it reads signed documents and a registry, and shares only
:mod:`mobco2.signing` (schema, canonical bytes, signatures) with the participant's side.
"""
