## tests/: integration scripts (a real berthd and real clients)
