"""A Django test client signed in as a person (for pages; sockets are in sockets.py)."""

from django.contrib.auth.models import User
from django.test import Client


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
