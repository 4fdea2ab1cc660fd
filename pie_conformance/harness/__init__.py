"""The harness: run a train.py like the platform does and check the contract as it runs."""
