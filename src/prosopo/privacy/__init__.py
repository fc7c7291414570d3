"""Privacy controls for stored biometric data: consent records and retention
(:mod:`.consent`), encryption at rest (:mod:`.crypto`) and the hash-chained
audit log (:mod:`.audit`). The gallery store uses all three."""
