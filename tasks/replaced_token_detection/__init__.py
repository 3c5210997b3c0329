"""ELECTRA's replaced-token detection (Clark et al. 2020): pretraining that learns from every
token. See task.py."""
