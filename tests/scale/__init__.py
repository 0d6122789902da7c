"""Several workers on one PostgreSQL database and one Redis queue."""
