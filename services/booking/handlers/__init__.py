"""Booking's use cases, one plain function each, by job:

bookings.py   holds and bookings: the partner's commands and queries
clients.py    client records, their intake on record, export and erasure
jobs.py       what the worker runs periodically

api.py and queues.py load each command at the edge and call its handler; each checks
what the caller may see, once; the steps that span services are in saga.py.
"""
