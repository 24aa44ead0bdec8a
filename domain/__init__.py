"""Pure business rules of the client-care policy: no I/O, no Temporal, no SQL."""
