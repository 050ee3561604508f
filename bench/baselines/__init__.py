"""Side-by-side baselines for `make bench`: each is a real server process."""
