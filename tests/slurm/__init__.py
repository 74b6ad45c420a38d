"""Test support for the local single-node Slurm cluster (cluster.sh) and the jobs run on it."""
