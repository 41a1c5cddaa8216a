"""Customer care: calls routed into agent queues, tasks in PostgreSQL (claim with a lease, accept, reject, wrap up,
complete), the sweeper that expires leases, ages priorities and widens, and the queue metrics.

The rules are the pure core in ``rules/``; the other modules do the I/O around it.
"""
