"""Adapters: the only modules that touch tweepy, SQL, Jinja2, files and the network."""
