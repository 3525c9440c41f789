"""Availability's use cases, one plain function each, by job:

queries.py        what partners read: studios, treatments, slots
reservations.py   the RPC booking calls: describe, hold, confirm, release (and the
                  worker's sweep of expired holds)
catalog_admin.py  an admin's changes to the catalog, all or nothing

api.py and queues.py load each command at the edge and call its handler; handlers
raise `services.common.errors`, which each edge renders.
"""
