"""Offline data loaders: every data set comes from an installed package or is
generated."""
