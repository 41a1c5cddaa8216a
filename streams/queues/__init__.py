"""Agent queues: tasks in PostgreSQL (claim with a lease, accept, reject, wrap up, complete), routing of calls,
disputes and held invoices into them, and the sweeper that expires leases, ages priorities and widens.

The rules are the pure core in streams/care/; this package does the I/O around it.
"""
