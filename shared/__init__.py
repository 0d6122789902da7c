"""Baylight's shared core: domain, persistence, services, realtime, web app.

Kept free of side effects on import: the entry point must be able to
monkey-patch for eventlet or gevent before anything else loads.
"""
