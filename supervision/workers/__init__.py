"""Deliverers that talk HTTP: each takes a sessionmaker and works in several short units of
work of its own, never holding a transaction or a lock across a call to another system.

trustee.py: instructions out; outbox.py: notifications out; statements.py: the daily pull.
"""
