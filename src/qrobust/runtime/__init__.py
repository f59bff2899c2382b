"""What a job runs inside: the CLI dispatch (dispatch) and the warm job server that forks into it
(server), glibc's heap settings (malloc), seeding, threads and device choice (seeding), atomic file
writes and hashing (atomic), and the names of the hardware a measurement ran on (hardware)."""
